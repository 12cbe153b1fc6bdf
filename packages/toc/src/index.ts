/** @lazypull/toc: the TOC model shared by eStargz and zstd:chunked. */
export {
  cleanEntryName,
  DEFAULT_MAX_TOC_BYTES,
  DEFAULT_MAX_TOC_ENTRIES,
  ENTRY_TYPES,
  type EntryType,
  entryTypeOf,
  formatModtime,
  type ParseTocOptions,
  parseModtime,
  parseToc,
  serializeToc,
  type Toc,
  type TocEntry,
  type TocStyle,
} from "./Toc.ts"
export { civilFromDays, daysFromCivil } from "./internal/Time.ts"
export { TocError, TocErrorReason } from "./TocError.ts"
export {
  type ChunkRef,
  EMPTY_DIGEST,
  LANDMARK_DIGEST,
  LANDMARK_NO_PREFETCH,
  LANDMARK_PREFETCH,
  TOC_FILE_NAME,
  TocIndex,
  type TocIndexOptions,
  type TocNode,
} from "./TocIndex.ts"
