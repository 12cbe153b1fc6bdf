/** The package error: `ImageError`. */
export * from "./ImageError.ts"
/** Lazy-pullability check of every layer of an image: `checkImage`, `externalTocsOf`. */
export * from "./Check.ts"
/** Image conversion to eStargz / zstd:chunked: `convertImages`. */
export * from "./Convert.ts"
/** Choosing images (ref, platforms) in a layout or archive: `selectImages`. */
export * from "./Select.ts"
