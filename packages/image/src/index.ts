/** The package error: `ImageError`. */
export * from "./ImageError.ts"
/** Lazy-pullability check of every layer of an image: `checkImage`, `externalTocsOf`. */
export * from "./Check.ts"
/** Image conversion to eStargz / zstd:chunked: `convertImages`. */
export * from "./Convert.ts"
/** Choosing images (ref, platforms) in a layout or archive: `selectImages`. */
export * from "./Select.ts"
/** The merged file tree of an image, each layer streamed once: `imageTree`, `scanLayer`, `mergeChanges`, `ImageTree`. */
export * from "./Tree.ts"
/** Comparing the merged trees of two images: `diffImages`, `diffTrees`. */
export * from "./Diff.ts"
/** The lazy image view from TOCs and chunks: `imageToc`, `listImage`, `readImageFile`, `makeImageView`. */
export * from "./View.ts"
/** Extracting files of the merged image into a directory, safely: `extractImage`. */
export * from "./Extract.ts"
