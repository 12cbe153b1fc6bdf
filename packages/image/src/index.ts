/** The package error: `ImageError`. */
export * from "./ImageError.ts"
