export * from "./RangeReader.ts"
