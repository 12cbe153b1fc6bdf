/** OCI image index. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json"
/** OCI image manifest. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
/** OCI image config. */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
/** OCI layout header (the `oci-layout` file). */
export const OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
/** Uncompressed OCI layer. */
export const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
/** gzip OCI layer (eStargz layers use it too). */
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
/** zstd OCI layer (zstd:chunked layers use it too). */
export const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
/** Deprecated non-distributable OCI layer, uncompressed. */
export const OCI_LAYER_NONDIST_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
/** Deprecated non-distributable OCI layer, gzip. */
export const OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
/** Deprecated non-distributable OCI layer, zstd. */
export const OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
/** The empty descriptor's media type (`{}`). */
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json"
/** Digest of the empty descriptor's content `{}`. */
export const OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
/** Docker image manifest v2 schema 2. */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
/** Docker manifest list. */
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
/** Docker image config. */
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
/** Docker gzip layer (interchangeable with OCI tar+gzip). */
export const DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
/** Docker foreign gzip layer. */
export const DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
/** Docker plugin config. */
export const DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"

/** How a layer blob is compressed. */
export type LayerCompression = "none" | "gzip" | "zstd"

const LAYERS: ReadonlyMap<string, LayerCompression> = new Map<string, LayerCompression>([
  [OCI_LAYER_TAR, "none"],
  [OCI_LAYER_GZIP, "gzip"],
  [OCI_LAYER_ZSTD, "zstd"],
  [OCI_LAYER_NONDIST_TAR, "none"],
  [OCI_LAYER_NONDIST_GZIP, "gzip"],
  [OCI_LAYER_NONDIST_ZSTD, "zstd"],
  [DOCKER_LAYER_GZIP, "gzip"],
  [DOCKER_LAYER_FOREIGN_GZIP, "gzip"],
])

/** Whether `mediaType` is an image index (OCI index or Docker manifest list). */
export const isIndex = (mediaType: string | undefined): boolean =>
  mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST

/** Whether `mediaType` is an image manifest (OCI or Docker v2). */
export const isManifest = (mediaType: string | undefined): boolean =>
  mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST

/** Whether `mediaType` is an image config (OCI or Docker). */
export const isConfig = (mediaType: string | undefined): boolean =>
  mediaType === OCI_CONFIG || mediaType === DOCKER_CONFIG

/** Whether `mediaType` is a known layer media type (OCI, non-distributable or Docker). */
export const isLayer = (mediaType: string | undefined): boolean =>
  mediaType !== undefined && LAYERS.has(mediaType)

/**
 * The compression of a layer media type, or undefined when it is not a known layer type.
 *
 * @example
 * layerCompression("application/vnd.docker.image.rootfs.diff.tar.gzip") // "gzip"
 */
export const layerCompression = (mediaType: string): LayerCompression | undefined => LAYERS.get(mediaType)

/** The OCI layer media type for a compression. */
export const ociLayerMediaType = (compression: LayerCompression): string =>
  compression === "gzip" ? OCI_LAYER_GZIP : compression === "zstd" ? OCI_LAYER_ZSTD : OCI_LAYER_TAR
