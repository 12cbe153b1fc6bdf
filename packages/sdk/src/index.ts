/** Image references in skopeo's syntax: `parseImageRef`, `formatImageRef`. */
export * from "./ImageRef.ts"
/** The Effect API: `convert`, `check`, `diff`, `ls`, `cat`, `toc`, `extract`, `withImage`, `openSource`, `openOutput`, `select`, `hostPlatform`. */
export * from "./Images.ts"
/** The Promise API for people who don't use Effect: `convertImage`, `checkImage`, `diffImages`, `openImage`. */
export * from "./Promise.ts"
/** Default Node services and `runPromise`. */
export * from "./Runtime.ts"
