/** Shared conformance suites for engines (`gzipEngineSuite`, `sha256Suite`) and their test helpers. */
export * from "./GzipEngineSuite.ts"
export * from "./GzipMember.ts"
export * from "./Sha256Suite.ts"
export * from "./TestData.ts"
/** The zstd conformance suite (`zstdEngineSuite`) with its independent frame walker and frame builders. */
export * from "./ZstdEngineSuite.ts"
/** The conformance suite every layer format plugin runs (`layerFormatSuite`). */
export * from "./LayerSuite.ts"
