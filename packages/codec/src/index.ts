export * from "./CodecError.ts"
export * from "./GzipEngine.ts"
export * from "./Sha256.ts"
