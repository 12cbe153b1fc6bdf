export * from "./Footer.ts"
export * from "./StargzDialect.ts"
