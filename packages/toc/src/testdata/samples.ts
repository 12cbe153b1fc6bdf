/** Sample TOCs shared by the tests (not part of the package build). */

// FORMATS §2.8: the TOC of the worked example, byte for byte as the Go reference writes it.
export const WORKED_EXAMPLE = `{
	"version": 1,
	"entries": [
		{
			"name": ".no.prefetch.landmark",
			"type": "reg",
			"size": 1,
			"offset": 90,
			"digest": "sha256:dc0e9c3658a1a3ed1ec94274d8b19925c93e1abb7ddba294923ad9bde30f8cb8",
			"chunkDigest": "sha256:dc0e9c3658a1a3ed1ec94274d8b19925c93e1abb7ddba294923ad9bde30f8cb8"
		},
		{
			"name": "etc/",
			"type": "dir",
			"modtime": "2021-01-02T03:04:05Z",
			"mode": 493
		},
		{
			"name": "etc/hello.txt",
			"type": "reg",
			"size": 10,
			"modtime": "2021-01-02T03:04:05Z",
			"mode": 420,
			"offset": 220,
			"digest": "sha256:84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882",
			"chunkSize": 4,
			"chunkDigest": "sha256:1be2e452b46d7a0d9656bbb1f768e8248eba1b75baed65f5d99eafa948899a6a"
		},
		{
			"name": "etc/hello.txt",
			"type": "chunk",
			"offset": 253,
			"chunkOffset": 4,
			"chunkSize": 4,
			"chunkDigest": "sha256:db2e7f1bd5ab9968ae76199b7cc74795ca7404d5a08d78567715ce532f9d2669"
		},
		{
			"name": "etc/hello.txt",
			"type": "chunk",
			"offset": 286,
			"chunkOffset": 8,
			"chunkDigest": "sha256:cd70bea023f752a0564abb6ed08d42c1440f2e33e29914e55e0be1595e24f45a"
		},
		{
			"name": "etc/link",
			"type": "symlink",
			"modtime": "2021-01-02T03:04:05Z",
			"linkName": "hello.txt",
			"mode": 511
		}
	]
}`

// FORMATS §8.2: a containers/storage (flavour A) TOC in full, one line, in c/storage key order.
/** A well-formed digest made of one repeated hex digit. */
export const D = (c: string): string => `sha256:${c.repeat(64)}`
export const STORAGE_TOC =
  '{"version":1,"entries":[' +
  '{"type":"dir","name":"etc/","mode":493,"modtime":"2021-01-02T03:04:05Z"},' +
  '{"type":"reg","name":"etc/hello.txt","mode":420,"size":10,"uid":1000,"gid":1000,' +
  '"modtime":"2021-01-02T03:04:05.123456789+02:00","accesstime":"2021-01-02T03:04:06Z","changetime":"2021-01-02T03:04:07.5Z",' +
  '"xattrs":{"user.foo":"YmFy"},' +
  '"digest":"sha256:84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882","offset":207,"endOffset":230},' +
  '{"type":"reg","name":"etc/empty","mode":420,"modtime":"2021-01-02T03:04:05Z"},' +
  `{"type":"reg","name":"big","mode":420,"size":300000,"modtime":"2021-01-02T03:04:05Z","digest":"${D("1")}",` +
  `"offset":347,"endOffset":200445,"chunkSize":51083,"chunkDigest":"${D("2")}"},` +
  `{"type":"chunk","name":"big","offset":51444,"chunkSize":48917,"chunkOffset":51083,"chunkDigest":"${D("3")}"},` +
  `{"type":"chunk","name":"big","offset":100375,"chunkSize":100000,"chunkOffset":100000,"chunkDigest":"${D("4")}","chunkType":"zeros"},` +
  `{"type":"chunk","name":"big","offset":100401,"chunkSize":69422,"chunkOffset":200000,"chunkDigest":"${D("5")}"},` +
  `{"type":"chunk","name":"big","offset":169823,"chunkSize":30578,"chunkOffset":269422,"chunkDigest":"${D("6")}"},` +
  '{"type":"char","name":"dev/null","mode":438,"modtime":"2021-01-02T03:04:05Z","devMajor":1,"devMinor":3},' +
  '{"type":"symlink","name":"etc/link","linkName":"hello.txt","modtime":"2021-01-02T03:04:05Z"}],' +
  `"tarSplitDigest":"${D("d")}"}`
