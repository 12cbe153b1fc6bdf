// Command lazypull-interop checks lazypull's output against Debian's packaged
// estargz 0.12 library (github.com/containerd/stargz-snapshotter/estargz) and
// builds reference blobs with it. It is a test and benchmark helper only.
//
// Every subcommand prints exactly one JSON document on stdout. On failure it
// prints {"ok":false,"error":"...","stage":"..."} and exits with status 1.
//
//	verify  --in BLOB --toc-digest D [--zstdchunked] [--diff-id D] [--uncompressed-size N]
//	listtar --in TAR[.gz|.zst]
//	build   --in TAR[.gz|.zst] --out BLOB [--chunk-size N] [--level N] [--prioritized FILE] [--zstdchunked]
//	toc     --in BLOB [--zstdchunked]
//
// Built by ../build.sh in GOPATH mode against /usr/share/gocode.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
)

// ----------------------------------------------------------------------------
// Output shapes

// fileFact is one entry of the "files" array. Field order and meaning follow
// the "Per-file facts" section of the fixtures README.
type fileFact struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Size     int64             `json:"size"`
	SHA256   string            `json:"sha256"`
	Mode     string            `json:"mode"`
	UID      int               `json:"uid"`
	GID      int               `json:"gid"`
	LinkName string            `json:"linkName"`
	Xattrs   map[string]string `json:"xattrs"`
	ModTime  string            `json:"modtime"`
	DevMajor int64             `json:"devMajor"`
	DevMinor int64             `json:"devMinor"`
}

type verifyOutput struct {
	OK               bool              `json:"ok"`
	Format           string            `json:"format"`
	TOCDigest        string            `json:"tocDigest"`
	DiffID           string            `json:"diffID"`
	UncompressedSize int64             `json:"uncompressedSize"`
	BlobDigest       string            `json:"blobDigest"`
	BlobSize         int64             `json:"blobSize"`
	TOCOffset        int64             `json:"tocOffset"`
	Landmark         string            `json:"landmark"`
	PrefetchEntries  []string          `json:"prefetchEntries"`
	ChunkCount       int               `json:"chunkCount"`
	Annotations      map[string]string `json:"annotations"`
	Files            []fileFact        `json:"files"`
}

type listOutput struct {
	OK               bool       `json:"ok"`
	Compression      string     `json:"compression"`
	DiffID           string     `json:"diffID"`
	UncompressedSize int64      `json:"uncompressedSize"`
	Entries          int        `json:"entries"`
	Skipped          []string   `json:"skipped"`
	GlobalHeaders    int        `json:"globalHeaders"`
	Files            []fileFact `json:"files"`
}

type buildOutput struct {
	OK                bool              `json:"ok"`
	Format            string            `json:"format"`
	BlobDigest        string            `json:"blobDigest"`
	TOCDigest         string            `json:"tocDigest"`
	DiffID            string            `json:"diffID"`
	UncompressedSize  int64             `json:"uncompressedSize"`
	BlobSize          int64             `json:"blobSize"`
	Annotations       map[string]string `json:"annotations"`
	MissedPrioritized []string          `json:"missedPrioritized"`
	Seconds           float64           `json:"seconds"`
}

type failureOutput struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Stage string `json:"stage"`
}

// stageError tags an error with the step of a subcommand that failed.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }

func fail(stage string, format string, args ...interface{}) error {
	return &stageError{stage: stage, err: fmt.Errorf(format, args...)}
}

func wrap(stage string, err error) error {
	if err == nil {
		return nil
	}
	var se *stageError
	if errors.As(err, &se) {
		return err
	}
	return &stageError{stage: stage, err: err}
}

// ----------------------------------------------------------------------------
// main

func main() {
	if len(os.Args) < 2 {
		exitWith(fail("args", "usage: lazypull-interop verify|listtar|build|toc [flags]"))
	}
	cmd, args := os.Args[1], os.Args[2:]
	var doc interface{}
	var err error
	switch cmd {
	case "verify":
		doc, err = runVerify(args)
	case "listtar":
		doc, err = runListTar(args)
	case "build":
		doc, err = runBuild(args)
	case "toc":
		var raw []byte
		raw, err = runTOC(args)
		if err == nil {
			if _, werr := os.Stdout.Write(raw); werr != nil {
				os.Exit(1)
			}
			return
		}
	default:
		err = fail("args", "unknown subcommand %q (want verify, listtar, build or toc)", cmd)
	}
	if err != nil {
		exitWith(err)
	}
	emit(doc)
}

func emit(doc interface{}) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		fmt.Fprintln(os.Stderr, "lazypull-interop: encoding output:", err)
		os.Exit(1)
	}
}

func exitWith(err error) {
	stage := "internal"
	var se *stageError
	if errors.As(err, &se) {
		stage = se.stage
	}
	emit(failureOutput{OK: false, Error: err.Error(), Stage: stage})
	fmt.Fprintf(os.Stderr, "lazypull-interop: %s: %v\n", stage, err)
	os.Exit(1)
}

// newFlags returns a flag set that reports errors only through the returned error.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fail("args", "%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fail("args", "%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// ----------------------------------------------------------------------------
// Small helpers

// cleanName normalises a tar or TOC path the way estargz does: Clean("/"+p) without the leading slash.
func cleanName(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// rfc3339Rounded renders a time as estargz writes it into the TOC: UTC, rounded
// to whole seconds, empty for the zero time and the epoch.
func rfc3339Rounded(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return ""
	}
	return t.UTC().Round(time.Second).Format(time.RFC3339)
}

func octalMode(m int64) string {
	return "0" + strconv.FormatInt(m, 8)
}

// reservedName reports names that the facts leave out: the two landmarks and the gzip TOC entry.
func reservedName(clean string) bool {
	switch clean {
	case estargz.PrefetchLandmark, estargz.NoPrefetchLandmark, estargz.TOCTarName:
		return true
	}
	return false
}

func sha256Of(h hash.Hash) string {
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

var emptySHA256 = sha256Of(sha256.New())

// counter hashes and counts everything written to it.
type counter struct {
	h hash.Hash
	n int64
}

func newCounter() *counter { return &counter{h: sha256.New()} }

func (c *counter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *counter) digest() string { return sha256Of(c.h) }

// lastWins keeps the last fact of every name and returns them sorted by name.
func lastWins(all []fileFact) []fileFact {
	idx := map[string]int{}
	out := make([]fileFact, 0, len(all))
	for _, f := range all {
		if i, ok := idx[f.Name]; ok {
			out[i] = f
			continue
		}
		idx[f.Name] = len(out)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// compression identifies a stream from its magic bytes.
type compression string

const (
	compGzip compression = "gzip"
	compZstd compression = "zstd"
	compNone compression = "none"
)

func sniffMagic(head []byte) compression {
	switch {
	case len(head) >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 8:
		return compGzip
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		return compZstd
	}
	return compNone
}

// decompressed returns the whole decompressed stream of r: every gzip member,
// every zstd frame (skippable frames are skipped by the decoder), or r itself.
func decompressed(r io.Reader) (io.Reader, compression, func(), error) {
	br := bufio.NewReaderSize(r, 256<<10)
	head, _ := br.Peek(4)
	switch c := sniffMagic(head); c {
	case compGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, nil, err
		}
		zr.Multistream(true)
		return zr, c, func() { zr.Close() }, nil
	case compZstd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, c, nil, err
		}
		return zr, c, zr.Close, nil
	default:
		return br, c, func() {}, nil
	}
}

// ----------------------------------------------------------------------------
// Facts from tar headers and TOC entries

func typeOfHeader(h *tar.Header) (string, error) {
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		if h.Typeflag == tar.TypeRegA && strings.HasSuffix(h.Name, "/") {
			return "dir", nil
		}
		return "reg", nil
	case tar.TypeDir:
		return "dir", nil
	case tar.TypeSymlink:
		return "symlink", nil
	case tar.TypeLink:
		return "hardlink", nil
	case tar.TypeChar:
		return "char", nil
	case tar.TypeBlock:
		return "block", nil
	case tar.TypeFifo:
		return "fifo", nil
	}
	return "", fmt.Errorf("entry %q has unsupported tar type %q", h.Name, string(h.Typeflag))
}

func factOfHeader(h *tar.Header, kind string) fileFact {
	f := fileFact{
		Name:    cleanName(h.Name),
		Type:    kind,
		Mode:    octalMode(h.Mode),
		UID:     h.Uid,
		GID:     h.Gid,
		Xattrs:  map[string]string{},
		ModTime: rfc3339Rounded(h.ModTime),
	}
	for k, v := range h.PAXRecords {
		if name := strings.TrimPrefix(k, "SCHILY.xattr."); name != k {
			f.Xattrs[name] = base64.StdEncoding.EncodeToString([]byte(v))
		}
	}
	switch kind {
	case "reg":
		f.Size = h.Size
	case "symlink":
		f.LinkName = h.Linkname
	case "hardlink":
		f.LinkName = cleanName(h.Linkname)
	case "char", "block":
		f.DevMajor, f.DevMinor = h.Devmajor, h.Devminor
	}
	return f
}

func factOfTOCEntry(e *estargz.TOCEntry) fileFact {
	f := fileFact{
		Name:     cleanName(e.Name),
		Type:     e.Type,
		Mode:     octalMode(e.Mode),
		UID:      e.UID,
		GID:      e.GID,
		Xattrs:   map[string]string{},
		ModTime:  e.ModTime3339,
		DevMajor: int64(e.DevMajor),
		DevMinor: int64(e.DevMinor),
	}
	if e.ModTime3339 != "" {
		if t, err := time.Parse(time.RFC3339, e.ModTime3339); err == nil {
			f.ModTime = rfc3339Rounded(t)
		}
	}
	for k, v := range e.Xattrs {
		f.Xattrs[k] = base64.StdEncoding.EncodeToString(v)
	}
	switch e.Type {
	case "reg":
		f.Size = e.Size
	case "symlink":
		f.LinkName = e.LinkName
	case "hardlink":
		f.LinkName = cleanName(e.LinkName)
	}
	return f
}

// sameFact compares two facts field by field and names the first difference.
func sameFact(a, b fileFact) (bool, string) {
	switch {
	case a.Name != b.Name:
		return false, "name"
	case a.Type != b.Type:
		return false, "type"
	case a.Size != b.Size:
		return false, "size"
	case a.SHA256 != b.SHA256:
		return false, "sha256"
	case a.Mode != b.Mode:
		return false, "mode"
	case a.UID != b.UID || a.GID != b.GID:
		return false, "owner"
	case a.LinkName != b.LinkName:
		return false, "linkName"
	case a.ModTime != b.ModTime:
		return false, "modtime"
	case a.DevMajor != b.DevMajor || a.DevMinor != b.DevMinor:
		return false, "device"
	case len(a.Xattrs) != len(b.Xattrs):
		return false, "xattrs"
	}
	for k, v := range a.Xattrs {
		if w, ok := b.Xattrs[k]; !ok || w != v {
			return false, "xattrs"
		}
	}
	return true, ""
}

// ----------------------------------------------------------------------------
// The TOC as stored in a blob

// storedTOC is the TOC located through the blob's footer with the library's parsers.
type storedTOC struct {
	json       []byte // the TOC JSON exactly as stored
	compressed []byte // the compressed TOC bytes (gzip member or zstd frame)
	offset     int64  // where the compressed TOC starts in the blob
	toc        *estargz.JTOC
}

func openBlob(p string) (*os.File, *io.SectionReader, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, io.NewSectionReader(f, 0, st.Size()), nil
}

func readStoredTOC(sr *io.SectionReader, zstdChunked bool) (*storedTOC, error) {
	size := sr.Size()
	var start, end int64
	var jsonReader func([]byte) (io.ReadCloser, error)
	if zstdChunked {
		d := new(zstdchunked.Decompressor)
		if size < d.FooterSize() {
			return nil, fmt.Errorf("blob of %d bytes is smaller than the zstd:chunked footer", size)
		}
		footer := make([]byte, d.FooterSize())
		if _, err := sr.ReadAt(footer, size-d.FooterSize()); err != nil {
			return nil, fmt.Errorf("reading footer: %w", err)
		}
		_, off, clen, err := d.ParseFooter(footer)
		if err != nil {
			return nil, fmt.Errorf("zstd:chunked footer: %w", err)
		}
		start, end = off, off+clen
		jsonReader = func(b []byte) (io.ReadCloser, error) { return d.DecompressTOC(bytes.NewReader(b)) }
	} else {
		off, footerSize, err := estargz.OpenFooter(sr)
		if err != nil {
			return nil, fmt.Errorf("eStargz footer: %w", err)
		}
		start, end = off, size-footerSize
		d := new(estargz.GzipDecompressor)
		jsonReader = func(b []byte) (io.ReadCloser, error) { return d.DecompressTOC(bytes.NewReader(b)) }
	}
	if start < 0 || end > size || start >= end {
		return nil, fmt.Errorf("TOC range [%d,%d) is outside the blob of %d bytes", start, end, size)
	}
	st := &storedTOC{offset: start, compressed: make([]byte, end-start)}
	if _, err := sr.ReadAt(st.compressed, start); err != nil {
		return nil, fmt.Errorf("reading TOC bytes: %w", err)
	}
	rc, err := jsonReader(st.compressed)
	if err != nil {
		return nil, fmt.Errorf("decompressing TOC: %w", err)
	}
	defer rc.Close()
	if st.json, err = io.ReadAll(rc); err != nil {
		return nil, fmt.Errorf("decompressing TOC: %w", err)
	}
	st.toc = new(estargz.JTOC)
	if err := json.Unmarshal(st.json, st.toc); err != nil {
		return nil, fmt.Errorf("TOC JSON: %w", err)
	}
	return st, nil
}

// ----------------------------------------------------------------------------
// verify

func runVerify(args []string) (interface{}, error) {
	fs := newFlags("verify")
	in := fs.String("in", "", "blob")
	wantTOC := fs.String("toc-digest", "", "expected TOC digest")
	zc := fs.Bool("zstdchunked", false, "the blob is zstd:chunked")
	wantDiffID := fs.String("diff-id", "", "expected digest of the decompressed blob")
	wantSize := fs.Int64("uncompressed-size", -1, "expected size of the decompressed blob")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *in == "" || *wantTOC == "" {
		return nil, fail("args", "verify needs --in and --toc-digest")
	}
	want, err := digest.Parse(*wantTOC)
	if err != nil {
		return nil, fail("args", "--toc-digest: %v", err)
	}

	f, sr, err := openBlob(*in)
	if err != nil {
		return nil, wrap("read", err)
	}
	defer f.Close()
	blob := newCounter()
	if _, err := io.Copy(blob, io.NewSectionReader(sr, 0, sr.Size())); err != nil {
		return nil, wrap("read", err)
	}
	head := make([]byte, 4)
	n, _ := sr.ReadAt(head, 0)
	magic := sniffMagic(head[:n])
	if *zc && magic != compZstd {
		return nil, fail("format", "--zstdchunked given but the blob does not start with a zstd frame")
	}
	if !*zc && magic != compGzip {
		return nil, fail("format", "the blob does not start with a gzip member (pass --zstdchunked for zstd:chunked)")
	}

	// 1. The library's reader and verifier.
	var opts []estargz.OpenOption
	if *zc {
		opts = append(opts, estargz.WithDecompressors(new(zstdchunked.Decompressor)))
	}
	r, err := estargz.Open(sr, opts...)
	if err != nil {
		return nil, fail("open", "estargz.Open: %v", err)
	}
	if got := r.TOCDigest(); got != want {
		return nil, fail("toc-digest", "TOC digest is %s, expected %s", got, want)
	}
	verifier, err := r.VerifyTOC(want)
	if err != nil {
		return nil, fail("verify-toc", "VerifyTOC: %v", err)
	}

	// 2. The stored TOC, in stored order.
	st, err := readStoredTOC(sr, *zc)
	if err != nil {
		return nil, wrap("toc", err)
	}
	if d := digest.FromBytes(st.json); d != r.TOCDigest() {
		return nil, fail("toc", "TOC read through the footer has digest %s, estargz.Open saw %s", d, r.TOCDigest())
	}

	out := &verifyOutput{
		OK:              true,
		Format:          map[bool]string{true: "zstd:chunked", false: "estargz"}[*zc],
		TOCDigest:       r.TOCDigest().String(),
		BlobDigest:      blob.digest(),
		BlobSize:        blob.n,
		TOCOffset:       st.offset,
		PrefetchEntries: []string{},
		Annotations:     map[string]string{estargz.TOCJSONDigestAnnotation: r.TOCDigest().String()},
	}
	if *zc {
		footer := make([]byte, zstdchunked.FooterSize)
		if _, err := sr.ReadAt(footer, sr.Size()-zstdchunked.FooterSize); err != nil {
			return nil, wrap("toc", err)
		}
		out.Annotations[zstdchunked.ManifestChecksumAnnotation] = digest.FromBytes(st.compressed).String()
		out.Annotations[zstdchunked.ManifestPositionAnnotation] = fmt.Sprintf("%d:%d:%d:%d", st.offset,
			len(st.compressed), binary.LittleEndian.Uint64(footer[16:24]), binary.LittleEndian.Uint64(footer[24:32]))
	}

	// 3. Facts from the TOC; landmark and prefetch list.
	var all []fileFact
	var prefix []string
	for _, e := range st.toc.Entries {
		if e.Type == "chunk" {
			out.ChunkCount++
			continue
		}
		if e.Type == "reg" && e.Size > 0 {
			out.ChunkCount++
		}
		name := cleanName(e.Name)
		if name == estargz.PrefetchLandmark || name == estargz.NoPrefetchLandmark {
			if out.Landmark == "" {
				out.Landmark = name
				if name == estargz.PrefetchLandmark {
					out.PrefetchEntries = prefix
				}
			}
			continue
		}
		if reservedName(name) {
			continue
		}
		if out.Landmark == "" {
			prefix = append(prefix, name)
		}
		fact := factOfTOCEntry(e)
		if e.Type == "reg" {
			fact.SHA256 = e.Digest
		}
		all = append(all, fact)
	}
	if out.PrefetchEntries == nil {
		out.PrefetchEntries = []string{}
	}
	files := lastWins(all)

	// 4. Every regular file, chunk by chunk, through the verifier.
	for i := range files {
		if files[i].Type != "reg" {
			continue
		}
		sum, err := readThroughVerifier(r, verifier, files[i].Name, files[i].Size)
		if err != nil {
			return nil, fail("chunks", "%s: %v", files[i].Name, err)
		}
		if files[i].SHA256 != sum {
			return nil, fail("file-digest", "%s: content is %s but the TOC says %q", files[i].Name, sum, files[i].SHA256)
		}
	}

	// 5. The whole decompressed stream against the TOC.
	diffID, usize, err := checkStream(sr, st, *zc)
	if err != nil {
		return nil, wrap("tar-stream", err)
	}
	out.DiffID, out.UncompressedSize = diffID, usize
	out.Annotations[estargz.StoreUncompressedSizeAnnotation] = strconv.FormatInt(usize, 10)
	if *wantDiffID != "" && *wantDiffID != diffID {
		return nil, fail("diff-id", "diffID of the decompressed blob is %s, expected %s", diffID, *wantDiffID)
	}
	if *wantSize >= 0 && *wantSize != usize {
		return nil, fail("uncompressed-size", "decompressed blob has %d bytes, expected %d", usize, *wantSize)
	}
	out.Files = files
	return out, nil
}

// readThroughVerifier reads one regular file chunk by chunk, checks each chunk
// against its TOC chunk digest and returns the digest of the whole content.
func readThroughVerifier(r *estargz.Reader, v estargz.TOCEntryVerifier, name string, size int64) (string, error) {
	whole := sha256.New()
	if size == 0 {
		return sha256Of(whole), nil
	}
	sr, err := r.OpenFile(name)
	if err != nil {
		return "", err
	}
	var buf []byte
	for pos := int64(0); pos < size; {
		ce, ok := r.ChunkEntryForOffset(name, pos)
		if !ok {
			return "", fmt.Errorf("no chunk covers file offset %d", pos)
		}
		if ce.ChunkOffset != pos {
			return "", fmt.Errorf("chunk for offset %d starts at %d", pos, ce.ChunkOffset)
		}
		if ce.ChunkSize <= 0 || pos+ce.ChunkSize > size {
			return "", fmt.Errorf("chunk at offset %d has size %d (file size %d)", pos, ce.ChunkSize, size)
		}
		cv, err := v.Verifier(ce)
		if err != nil {
			return "", err
		}
		if int64(cap(buf)) < ce.ChunkSize {
			buf = make([]byte, ce.ChunkSize)
		}
		chunk := buf[:ce.ChunkSize]
		if n, err := sr.ReadAt(chunk, pos); n != len(chunk) {
			return "", fmt.Errorf("reading chunk at offset %d: got %d of %d bytes: %v", pos, n, len(chunk), err)
		}
		cv.Write(chunk)
		if !cv.Verified() {
			return "", fmt.Errorf("chunk at file offset %d (blob offset %d, %d bytes) fails its chunk digest", pos, ce.Offset, ce.ChunkSize)
		}
		whole.Write(chunk)
		pos += ce.ChunkSize
	}
	return sha256Of(whole), nil
}

// checkStream decompresses the whole blob, walks its tar stream and compares
// every entry with the TOC's next non-chunk entry. It returns the digest and
// size of the decompressed stream.
func checkStream(sr *io.SectionReader, st *storedTOC, zstdChunked bool) (string, int64, error) {
	dr, _, closeFn, err := decompressed(io.NewSectionReader(sr, 0, sr.Size()))
	if err != nil {
		return "", 0, fmt.Errorf("decompressing: %w", err)
	}
	defer closeFn()
	whole := newCounter()
	tee := io.TeeReader(dr, whole)
	tr := tar.NewReader(tee)

	var expect []*estargz.TOCEntry
	for _, e := range st.toc.Entries {
		if e.Type != "chunk" {
			expect = append(expect, e)
		}
	}
	next := 0
	sawTOC := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", 0, fmt.Errorf("tar entry after %d entries: %w", next, err)
		}
		content := sha256.New()
		if _, err := io.Copy(content, tr); err != nil {
			return "", 0, fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
		name := cleanName(h.Name)
		if name == estargz.TOCTarName {
			if zstdChunked {
				return "", 0, fmt.Errorf("zstd:chunked stream contains a %s entry", name)
			}
			if got := sha256Of(content); got != digest.FromBytes(st.json).String() {
				return "", 0, fmt.Errorf("%s in the stream has digest %s, not the TOC's", name, got)
			}
			sawTOC = true
			continue
		}
		if sawTOC {
			return "", 0, fmt.Errorf("tar entry %q follows %s", name, estargz.TOCTarName)
		}
		kind, err := typeOfHeader(h)
		if err != nil {
			return "", 0, err
		}
		got := factOfHeader(h, kind)
		if kind == "reg" {
			got.SHA256 = sha256Of(content)
		}
		if next >= len(expect) {
			return "", 0, fmt.Errorf("tar entry %q has no TOC entry", name)
		}
		e := expect[next]
		next++
		want := factOfTOCEntry(e)
		if e.Type == "reg" {
			want.SHA256 = e.Digest
		}
		if ok, field := sameFact(got, want); !ok {
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(want)
			return "", 0, fmt.Errorf("entry #%d differs in %s: tar %s, TOC %s", next-1, field, a, b)
		}
	}
	if next < len(expect) {
		return "", 0, fmt.Errorf("%d TOC entries have no tar entry, first %q", len(expect)-next, expect[next].Name)
	}
	if !zstdChunked && !sawTOC {
		return "", 0, fmt.Errorf("the gzip stream has no %s entry", estargz.TOCTarName)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", 0, fmt.Errorf("decompressing the tail: %w", err)
	}
	return whole.digest(), whole.n, nil
}

// ----------------------------------------------------------------------------
// listtar

func runListTar(args []string) (interface{}, error) {
	fs := newFlags("listtar")
	in := fs.String("in", "", "tar, tar.gz or tar.zst")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *in == "" {
		return nil, fail("args", "listtar needs --in")
	}
	f, err := os.Open(*in)
	if err != nil {
		return nil, wrap("read", err)
	}
	defer f.Close()
	dr, comp, closeFn, err := decompressed(f)
	if err != nil {
		return nil, wrap("decompress", err)
	}
	defer closeFn()
	whole := newCounter()
	tee := io.TeeReader(dr, whole)
	tr := tar.NewReader(tee)
	out := &listOutput{OK: true, Compression: string(comp), Skipped: []string{}}
	var all []fileFact
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fail("tar", "after %d entries: %v", out.Entries, err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			out.GlobalHeaders++
			continue
		}
		out.Entries++
		kind, err := typeOfHeader(h)
		if err != nil {
			return nil, wrap("tar", err)
		}
		content := sha256.New()
		if _, err := io.Copy(content, tr); err != nil {
			return nil, fail("tar", "%s: %v", h.Name, err)
		}
		fact := factOfHeader(h, kind)
		if reservedName(fact.Name) {
			out.Skipped = append(out.Skipped, fact.Name)
			continue
		}
		if kind == "reg" {
			fact.SHA256 = sha256Of(content)
		}
		all = append(all, fact)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, wrap("decompress", err)
	}
	out.DiffID, out.UncompressedSize = whole.digest(), whole.n
	out.Files = lastWins(all)
	return out, nil
}

// ----------------------------------------------------------------------------
// build

// zstdChunkedCompression pairs the zstd:chunked compressor and decompressor as an estargz.Compression.
type zstdChunkedCompression struct {
	*zstdchunked.Compressor
	*zstdchunked.Decompressor
}

// readRecordPaths reads prioritized paths: one per line, or ctr-remote record
// lines ({"path":"...","manifestDigest":"...","layerIndex":N}).
func readRecordPaths(p string) ([]string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var paths []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "{") {
			paths = append(paths, line)
			continue
		}
		var rec struct {
			Path *string `json:"path"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Path == nil {
			return nil, fmt.Errorf("%s line %d: not a record with a \"path\"", p, i+1)
		}
		paths = append(paths, *rec.Path)
	}
	return paths, nil
}

func runBuild(args []string) (interface{}, error) {
	fs := newFlags("build")
	in := fs.String("in", "", "tar, tar.gz or tar.zst")
	outPath := fs.String("out", "", "blob to write")
	chunkSize := fs.Int("chunk-size", 0, "chunk size in bytes (0: the library's 4 MiB)")
	level := fs.String("level", "", "gzip level (default 9) or zstd level (default: klauspost SpeedDefault)")
	prioritized := fs.String("prioritized", "", "prioritized paths: one per line or ctr-remote record lines")
	zc := fs.Bool("zstdchunked", false, "build zstd:chunked")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *in == "" || *outPath == "" {
		return nil, fail("args", "build needs --in and --out")
	}
	lvl := 9
	if *level != "" {
		n, err := strconv.Atoi(*level)
		if err != nil {
			return nil, fail("args", "--level: %v", err)
		}
		lvl = n
	}
	src, srcReader, err := openBlob(*in)
	if err != nil {
		return nil, wrap("read", err)
	}
	defer src.Close()

	out := &buildOutput{OK: true, Format: "estargz", MissedPrioritized: []string{}}
	opts := []estargz.Option{estargz.WithChunkSize(*chunkSize)}
	zstdMeta := map[string]string{}
	if *zc {
		out.Format = "zstd:chunked"
		encLevel := zstd.SpeedDefault
		if *level != "" {
			encLevel = zstd.EncoderLevelFromZstd(lvl)
		}
		opts = append(opts, estargz.WithCompression(&zstdChunkedCompression{
			Compressor:   &zstdchunked.Compressor{CompressionLevel: encLevel, Metadata: zstdMeta},
			Decompressor: new(zstdchunked.Decompressor),
		}))
	} else {
		opts = append(opts, estargz.WithCompressionLevel(lvl))
	}
	if *prioritized != "" {
		paths, err := readRecordPaths(*prioritized)
		if err != nil {
			return nil, wrap("args", err)
		}
		opts = append(opts, estargz.WithPrioritizedFiles(paths), estargz.WithAllowPrioritizeNotFound(&out.MissedPrioritized))
	}

	began := time.Now()
	blob, err := estargz.Build(srcReader, opts...)
	if err != nil {
		return nil, fail("build", "estargz.Build: %v", err)
	}
	dst, err := os.Create(*outPath)
	if err != nil {
		blob.Close()
		return nil, wrap("write", err)
	}
	// Count the decompressed size while writing: the output also flows through a pipe into a decoder.
	pr, pw := io.Pipe()
	plain := newCounter()
	decoded := make(chan error, 1)
	go func() {
		dr, _, closeFn, err := decompressed(pr)
		if err == nil {
			_, err = io.Copy(plain, dr)
			closeFn()
		}
		pr.CloseWithError(err)
		decoded <- err
	}()
	written := newCounter()
	_, copyErr := io.Copy(io.MultiWriter(dst, written, pw), blob)
	pw.CloseWithError(copyErr)
	decodeErr := <-decoded
	closeErr := blob.Close()
	if err := dst.Close(); copyErr == nil {
		copyErr = err
	}
	if copyErr != nil {
		return nil, wrap("write", copyErr)
	}
	if decodeErr != nil {
		return nil, fail("write", "decompressing the written blob: %v", decodeErr)
	}
	if closeErr != nil {
		return nil, wrap("write", closeErr)
	}
	out.Seconds = time.Since(began).Seconds()
	out.BlobDigest, out.BlobSize = written.digest(), written.n
	out.TOCDigest = blob.TOCDigest().String()
	out.DiffID = blob.DiffID().String()
	out.UncompressedSize = plain.n
	if out.DiffID != plain.digest() {
		return nil, fail("build", "the library's DiffID %s differs from the decompressed output's %s", out.DiffID, plain.digest())
	}
	out.Annotations = map[string]string{
		estargz.TOCJSONDigestAnnotation:         out.TOCDigest,
		estargz.StoreUncompressedSizeAnnotation: strconv.FormatInt(plain.n, 10),
	}
	for k, v := range zstdMeta {
		out.Annotations[k] = v
	}
	return out, nil
}

// ----------------------------------------------------------------------------
// toc

func runTOC(args []string) ([]byte, error) {
	fs := newFlags("toc")
	in := fs.String("in", "", "blob")
	zc := fs.Bool("zstdchunked", false, "the blob is zstd:chunked")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *in == "" {
		return nil, fail("args", "toc needs --in")
	}
	f, sr, err := openBlob(*in)
	if err != nil {
		return nil, wrap("read", err)
	}
	defer f.Close()
	st, err := readStoredTOC(sr, *zc)
	if err != nil {
		return nil, wrap("toc", err)
	}
	return st.json, nil
}
