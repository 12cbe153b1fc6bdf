// The `lazypull` command: parses flags and hands each command to one SDK call. Only light modules are
// imported here (single effect modules, no barrels but effect/cli, which has no per-module entry points);
// command implementations load on demand so that `--help` and `--version` start fast.
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeStdio from "@effect/platform-node/NodeStdio"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { CliOutput, Command } from "effect/cli"
import {
  catCommand,
  checkCommand,
  convertCommand,
  diffCommand,
  extractCommand,
  lsCommand,
  tocCommand,
} from "./commands/imageCommand.ts"
import { layerCommand } from "./commands/layerCommand.ts"
import { EXIT, describeFailure } from "./exit.ts"
import { VERSION } from "./version.ts"

const root = Command.make("lazypull").pipe(
  Command.withDescription(
    "Lazy-pullable container images (eStargz, zstd:chunked): convert, check, and read files lazily.",
  ),
  Command.withSubcommands([
    convertCommand,
    checkCommand,
    diffCommand,
    tocCommand,
    lsCommand,
    catCommand,
    extractCommand,
    layerCommand,
  ]),
  Command.withExamples([
    {
      command: "lazypull convert oci:image:latest oci:image:latest-esgz --oci",
      description: "Convert an image to eStargz",
    },
    {
      command: "lazypull check oci:image:latest-esgz",
      description: "Prove that every layer is lazy-pullable",
    },
    {
      command: "lazypull layer convert layer.tar.gz layer.esgz",
      description: "Convert one layer to eStargz",
    },
    {
      command: "lazypull layer verify layer.esgz --json",
      description: "Prove that a layer is lazy-pullable",
    },
  ]),
)

// Requested help and --version go to stdout; a bad invocation becomes one line on stderr (rendered with
// the exit code by describeFailure); help shown because a subcommand is missing goes to stderr.
const presenter = CliOutput.layerPresenter({
  present: (event) => {
    switch (event._tag) {
      case "InvalidInvocation":
        return Effect.void
      case "Help":
        return event.reason === "Requested"
          ? CliOutput.defaultPresenter.present(event)
          : Console.error(CliOutput.defaultFormatter({ colors: false }).formatHelpDoc(event.helpDoc))
      default:
        return CliOutput.defaultPresenter.present(event)
    }
  },
})

const platform = Layer.mergeAll(
  NodeFileSystem.layer,
  NodePath.layer,
  NodeTerminal.layer,
  NodeStdio.layer,
  NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer])),
  presenter,
)

const program = Command.runWith(root, { version: VERSION })(process.argv.slice(2)).pipe(
  Effect.provide(platform),
)

// A reader that closed stdout (`lazypull layer cat … | head`) ends the command quietly.
let stdoutClosed = false
const fiber = Effect.runFork(program)
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e
  stdoutClosed = true
  fiber.interruptUnsafe()
})
// Ctrl-C / SIGTERM interrupt the command so that its finalizers remove temporary files; a second one exits.
const onSignal = () => {
  if (fiber.pollUnsafe() !== undefined) return
  process.once("SIGINT", () => process.exit(EXIT.interrupted))
  process.once("SIGTERM", () => process.exit(EXIT.interrupted))
  fiber.interruptUnsafe()
}
process.once("SIGINT", onSignal)
process.once("SIGTERM", onSignal)

fiber.addObserver((exit) => {
  process.removeListener("SIGINT", onSignal)
  process.removeListener("SIGTERM", onSignal)
  if (stdoutClosed) {
    process.exitCode = EXIT.ok
    return
  }
  if (Exit.isSuccess(exit)) {
    process.exitCode ??= EXIT.ok
    return
  }
  const { code, message } = describeFailure(exit.cause)
  if (message) process.stderr.write(`lazypull: ${message}\n`)
  process.exitCode = code
})
