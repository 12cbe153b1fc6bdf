// The `lazypull` command: parses flags and hands each command to one SDK call. Only light modules are
// imported here; command implementations load on demand so that `--help` and `--version` start fast.
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeStdio from "@effect/platform-node/NodeStdio"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { Command } from "effect/cli"
import { layerCommand } from "./commands/layerCommand.ts"
import { EXIT, describeFailure } from "./exit.ts"
import { VERSION } from "./version.ts"

const root = Command.make("lazypull").pipe(
  Command.withDescription(
    "Lazy-pullable container images (eStargz, zstd:chunked): convert, check, and read files lazily.",
  ),
  Command.withSubcommands([layerCommand]),
)

const platform = Layer.mergeAll(
  NodeFileSystem.layer,
  NodePath.layer,
  NodeTerminal.layer,
  NodeStdio.layer,
  NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer])),
)

const program = Command.runWith(root, { version: VERSION })(process.argv.slice(2)).pipe(
  Effect.provide(platform),
)

Effect.runPromiseExit(program).then(
  (exit) => {
    if (Exit.isSuccess(exit)) {
      process.exitCode ??= EXIT.ok
      return
    }
    const { code, message } = describeFailure(exit.cause)
    if (message) process.stderr.write(`lazypull: ${message}\n`)
    process.exitCode = code
  },
  (e: unknown) => {
    process.stderr.write(`lazypull: internal error: ${String(e)}\n`)
    process.exitCode = EXIT.runtime
  },
)
