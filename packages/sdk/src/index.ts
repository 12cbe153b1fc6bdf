/** Image references in skopeo's syntax: `parseImageRef`, `formatImageRef`. */
export * from "./ImageRef.ts"
/** The Effect API: `openSource`, `openOutput`, `convert`, `check`, `select`, `hostPlatform`. */
export * from "./Images.ts"
/** The Promise API for people who don't use Effect: `convertImage`, `checkImage`. */
export * from "./Promise.ts"
/** Default Node services and `runPromise`. */
export * from "./Runtime.ts"
