// ctlog_reader: an independent reader for a Static CT API log
// (c2sp.org/static-ct-api), used by fulcrum's tests against `fulcrum ctlog`.
//
// The tile arithmetic, proofs and signed-note handling come from
// golang.org/x/mod/sumdb/tlog and golang.org/x/mod/sumdb/note; the DER walk
// that strips the precertificate poison from golang.org/x/crypto/cryptobyte.
// Nothing here is shared with the C code under test.
//
//	ctlog_reader verify -url URL -log-key PEM -origin ORIGIN [-subs FILE]
//	                    [-old CHECKPOINT] [-save FILE] [-min-size N]
//	ctlog_reader gen -issuer-cert PEM -issuer-key PEM [-root PEM] -n N
//	                 [-precert] -out FILE
//
// verify fetches /checkpoint, checks the log's RFC 6962 note signature, and
// for each submission in FILE (JSON lines {"precert":bool,"body":{"chain":
// [...]},"sct":{...}}) checks the SCT (log ID, signature over the entry it
// rebuilds from the chain, leaf_index extension), proves the entry's
// inclusion at that index from the hash tiles, and compares the data tile
// entry and issuers. With -old it proves the current checkpoint consistent
// with an older one.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	poisonOID  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	sctListOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ctlog_reader verify|gen [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "verify":
		err = verify(os.Args[2:])
	case "gen":
		err = gen(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctlog_reader:", err)
		os.Exit(1)
	}
}

// --- fetching -----------------------------------------------------------

type fetcher struct {
	base  string
	cache map[string][]byte
	n     int
}

func (f *fetcher) get(path string) ([]byte, int, error) {
	if b, ok := f.cache[path]; ok {
		return b, 200, nil
	}
	resp, err := http.Get(f.base + "/" + path)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, 0, err
	}
	f.n++
	if resp.StatusCode == 200 && path != "checkpoint" {
		f.cache[path] = b
	}
	return b, resp.StatusCode, nil
}

// tilePath encodes N in 3-digit groups, all but the last with an "x".
func tilePath(level string, n int64, w int) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	p := "tile/" + level + "/" + s
	if w > 0 && w < 256 {
		p += ".p/" + strconv.Itoa(w)
	}
	return p
}

// getTile fetches a partial tile, falling back to the full one (which a log
// may publish in its place once complete), as static-ct-api asks.
func (f *fetcher) getTile(level string, n int64, w, entrySize int) ([]byte, error) {
	b, code, err := f.get(tilePath(level, n, w))
	if err != nil {
		return nil, err
	}
	if code == 404 && w < 256 {
		b, code, err = f.get(tilePath(level, n, 256))
		if err != nil {
			return nil, err
		}
		if code == 200 && entrySize > 0 && len(b) >= w*entrySize {
			b = b[:w*entrySize]
		}
	}
	if code != 200 {
		return nil, fmt.Errorf("%s: HTTP %d", tilePath(level, n, w), code)
	}
	return b, nil
}

// tileReader adapts the log's tile paths to tlog.TileReader (height 8).
type tileReader struct{ f *fetcher }

func (r tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.f.getTile(strconv.Itoa(t.L), t.N, t.W, 32)
		if err != nil {
			return nil, err
		}
		if len(b) != t.W*32 {
			return nil, fmt.Errorf("tile %d/%d: %d bytes, want %d", t.L, t.N, len(b), t.W*32)
		}
		out[i] = b
	}
	return out, nil
}

func (r tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// --- the RFC 6962 note signature (static-ct-api "Checkpoints") -------------

type rfc6962Verifier struct {
	name  string
	hash  uint32
	pub   *ecdsa.PublicKey
	ts    uint64
	valid bool
}

func (v *rfc6962Verifier) Name() string    { return v.name }
func (v *rfc6962Verifier) KeyHash() uint32 { return v.hash }

// Verify checks timestamp(8) || DigitallySigned over the RFC 6962 3.5
// TreeHeadSignature built from the note text (origin, size, root hash).
func (v *rfc6962Verifier) Verify(msg, sig []byte) bool {
	lines := strings.Split(string(msg), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return false
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return false
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 || len(sig) < 12 {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	ds := sig[8:]
	if ds[0] != 4 || ds[1] != 3 || int(binary.BigEndian.Uint16(ds[2:4])) != len(ds)-4 {
		return false
	}
	in := []byte{0, 1}
	in = binary.BigEndian.AppendUint64(in, ts)
	in = binary.BigEndian.AppendUint64(in, size)
	in = append(in, root...)
	h := sha256.Sum256(in)
	if !ecdsa.VerifyASN1(v.pub, h[:], ds[4:]) {
		return false
	}
	v.ts, v.valid = ts, true
	return true
}

type checkpoint struct {
	tree tlog.Tree
	ts   uint64
	text []byte
}

func openCheckpoint(text []byte, origin string, pub *ecdsa.PublicKey, logID [32]byte) (*checkpoint, error) {
	kh := sha256.Sum256(append(append([]byte(origin), '\n', 0x05), logID[:]...))
	v := &rfc6962Verifier{name: origin, hash: binary.BigEndian.Uint32(kh[:4]), pub: pub}
	n, err := note.Open(text, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if lines[0] != origin {
		return nil, fmt.Errorf("checkpoint origin %q, want %q", lines[0], origin)
	}
	size, _ := strconv.ParseInt(lines[1], 10, 64)
	root, _ := base64.StdEncoding.DecodeString(lines[2])
	c := &checkpoint{ts: v.ts, text: text}
	c.tree.N = size
	copy(c.tree.Hash[:], root)
	return c, nil
}

// --- entries ---------------------------------------------------------------

type submission struct {
	Precert bool `json:"precert"`
	Final   bool `json:"final"` // chain[0] is the final certificate of the precert
	Body    struct {
		Chain []string `json:"chain"`
	} `json:"body"`
	SCT struct {
		Version    int    `json:"sct_version"`
		ID         string `json:"id"`
		Timestamp  uint64 `json:"timestamp"`
		Extensions string `json:"extensions"`
		Signature  string `json:"signature"`
	} `json:"sct"`
}

// tbsWithoutPoison returns the TBSCertificate with the poison extension
// removed (RFC 6962 3.2), re-encoding only the enclosing lengths. For a
// final certificate the SCT list extension is removed instead, which gives
// the same bytes (RFC 6962 3.1).
func tbsWithoutPoison(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("bad certificate")
	}
	var b cryptobyte.Builder
	found := false
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for !tbs.Empty() {
			var elem cryptobyte.String
			var tag cbasn1.Tag
			if !tbs.ReadAnyASN1Element(&elem, &tag) {
				b.SetError(errors.New("bad TBS"))
				return
			}
			if tag != cbasn1.Tag(3).Constructed().ContextSpecific() {
				b.AddBytes(elem)
				continue
			}
			var exts, seq cryptobyte.String
			if !elem.ReadASN1(&exts, tag) || !exts.ReadASN1(&seq, cbasn1.SEQUENCE) {
				b.SetError(errors.New("bad extensions"))
				return
			}
			b.AddASN1(tag, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for !seq.Empty() {
						var ext, body cryptobyte.String
						var oid asn1.ObjectIdentifier
						if !seq.ReadASN1Element(&ext, cbasn1.SEQUENCE) {
							b.SetError(errors.New("bad extension"))
							return
						}
						body = ext
						var inner cryptobyte.String
						if !body.ReadASN1(&inner, cbasn1.SEQUENCE) || !inner.ReadASN1ObjectIdentifier(&oid) {
							b.SetError(errors.New("bad extension"))
							return
						}
						if oid.Equal(poisonOID) || oid.Equal(sctListOID) {
							found = true
							continue
						}
						b.AddBytes(ext)
					}
				})
			})
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errors.New("no poison or SCT list extension")
	}
	return out, nil
}

func u24(b []byte, n int) []byte { return append(b, byte(n>>16), byte(n>>8), byte(n)) }

// timestampedEntry rebuilds RFC 6962 3.4 TimestampedEntry from the chain.
func timestampedEntry(s *submission, ext []byte) ([]byte, [][]byte, error) {
	var certs [][]byte
	for i, c := range s.Body.Chain {
		d, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return nil, nil, fmt.Errorf("chain[%d]: %w", i, err)
		}
		certs = append(certs, d)
	}
	te := binary.BigEndian.AppendUint64(nil, s.SCT.Timestamp)
	if s.Precert {
		if len(certs) < 2 {
			return nil, nil, errors.New("precert chain needs its issuer")
		}
		issuer, err := x509.ParseCertificate(certs[1])
		if err != nil {
			return nil, nil, err
		}
		ikh := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
		tbs, err := tbsWithoutPoison(certs[0])
		if err != nil {
			return nil, nil, err
		}
		te = append(te, 0, 1)
		te = append(te, ikh[:]...)
		te = append(u24(te, len(tbs)), tbs...)
	} else {
		te = append(te, 0, 0)
		te = append(u24(te, len(certs[0])), certs[0]...)
	}
	te = binary.BigEndian.AppendUint16(te, uint16(len(ext)))
	te = append(te, ext...)
	return te, certs, nil
}

// tileLeaf reads one static-ct-api TileLeaf from b.
func tileLeaf(b cryptobyte.String) (te, precert []byte, fps [][]byte, rest cryptobyte.String, err error) {
	start := b
	var ts uint64
	var et uint16
	var body, ext, fp cryptobyte.String
	if !b.ReadUint64(&ts) || !b.ReadUint16(&et) {
		return nil, nil, nil, nil, errors.New("short entry")
	}
	switch et {
	case 0:
		if !b.ReadUint24LengthPrefixed(&body) {
			return nil, nil, nil, nil, errors.New("bad x509 entry")
		}
	case 1:
		if !b.Skip(32) || !b.ReadUint24LengthPrefixed(&body) {
			return nil, nil, nil, nil, errors.New("bad precert entry")
		}
	default:
		return nil, nil, nil, nil, fmt.Errorf("entry type %d", et)
	}
	if !b.ReadUint16LengthPrefixed(&ext) {
		return nil, nil, nil, nil, errors.New("bad extensions")
	}
	te = start[:len(start)-len(b)]
	if et == 1 {
		var pc cryptobyte.String
		if !b.ReadUint24LengthPrefixed(&pc) {
			return nil, nil, nil, nil, errors.New("bad pre_certificate")
		}
		precert = pc
	}
	if !b.ReadUint16LengthPrefixed(&fp) || len(fp)%32 != 0 {
		return nil, nil, nil, nil, errors.New("bad certificate_chain")
	}
	for len(fp) > 0 {
		fps = append(fps, fp[:32])
		fp = fp[32:]
	}
	return te, precert, fps, b, nil
}

func verify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	url := fs.String("url", "", "monitoring prefix (also the submission prefix)")
	keyPath := fs.String("log-key", "", "the log's public key (PEM)")
	origin := fs.String("origin", "", "checkpoint origin")
	subsPath := fs.String("subs", "", "submissions and their SCTs (JSON lines)")
	oldPath := fs.String("old", "", "an older checkpoint to prove consistency with")
	savePath := fs.String("save", "", "write the fetched checkpoint here")
	minSize := fs.Int64("min-size", 0, "fail if the tree is smaller")
	fs.Parse(args)

	pemBytes, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return errors.New("log key: no PEM")
	}
	anyKey, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return err
	}
	pub, ok := anyKey.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("log key is not ECDSA")
	}
	logID := sha256.Sum256(blk.Bytes)
	f := &fetcher{base: strings.TrimRight(*url, "/"), cache: map[string][]byte{}}

	text, code, err := f.get("checkpoint")
	if err != nil || code != 200 {
		return fmt.Errorf("checkpoint: HTTP %d %v", code, err)
	}
	cp, err := openCheckpoint(text, *origin, pub, logID)
	if err != nil {
		return err
	}
	fmt.Printf("checkpoint: size %d, root %x, signature ok\n", cp.tree.N, cp.tree.Hash[:])
	if cp.tree.N < *minSize {
		return fmt.Errorf("tree size %d < %d", cp.tree.N, *minSize)
	}
	if *savePath != "" {
		if err := os.WriteFile(*savePath, text, 0o644); err != nil {
			return err
		}
	}
	thr := tlog.TileHashReader(cp.tree, tileReader{f})

	// the tiles hash up to the checkpoint's root
	if cp.tree.N > 0 {
		h, err := tlog.TreeHash(cp.tree.N, thr)
		if err != nil {
			return fmt.Errorf("tree hash from tiles: %w", err)
		}
		if h != cp.tree.Hash {
			return errors.New("tiles do not hash to the checkpoint's root")
		}
	}

	if *oldPath != "" {
		oldText, err := os.ReadFile(*oldPath)
		if err != nil {
			return err
		}
		old, err := openCheckpoint(oldText, *origin, pub, logID)
		if err != nil {
			return fmt.Errorf("old %w", err)
		}
		if old.tree.N > cp.tree.N {
			return fmt.Errorf("tree shrank: %d -> %d", old.tree.N, cp.tree.N)
		}
		if old.tree.N == 0 {
			// every tree extends the empty one (RFC 9162 2.1.4)
			fmt.Printf("consistency: 0 -> %d ok (trivial)\n", cp.tree.N)
		} else {
			p, err := tlog.ProveTree(cp.tree.N, old.tree.N, thr)
			if err != nil {
				return fmt.Errorf("consistency proof: %w", err)
			}
			if err := tlog.CheckTree(p, cp.tree.N, cp.tree.Hash, old.tree.N, old.tree.Hash); err != nil {
				return fmt.Errorf("checkpoint %d is not consistent with %d: %w", cp.tree.N, old.tree.N, err)
			}
			fmt.Printf("consistency: %d -> %d ok (%d hashes)\n", old.tree.N, cp.tree.N, len(p))
		}
	}

	if *subsPath == "" {
		return nil
	}
	data, err := os.ReadFile(*subsPath)
	if err != nil {
		return err
	}
	seen := map[int64][]byte{}
	issuersOK := map[string]bool{}
	count := 0
	for ln, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var s submission
		if err := json.Unmarshal(line, &s); err != nil {
			return fmt.Errorf("subs line %d: %w", ln+1, err)
		}
		where := fmt.Sprintf("subs line %d", ln+1)
		if s.SCT.Version != 0 || s.SCT.ID != base64.StdEncoding.EncodeToString(logID[:]) {
			return fmt.Errorf("%s: SCT version or log ID is wrong", where)
		}
		ext, err := base64.StdEncoding.DecodeString(s.SCT.Extensions)
		if err != nil || len(ext) != 8 || ext[0] != 0 || ext[1] != 0 || ext[2] != 5 {
			return fmt.Errorf("%s: SCT extensions %q are not one leaf_index", where, s.SCT.Extensions)
		}
		index := int64(ext[3])<<32 | int64(binary.BigEndian.Uint32(ext[4:]))
		te, certs, err := timestampedEntry(&s, ext)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		sig, err := base64.StdEncoding.DecodeString(s.SCT.Signature)
		if err != nil || len(sig) < 4 || sig[0] != 4 || sig[1] != 3 ||
			int(binary.BigEndian.Uint16(sig[2:4])) != len(sig)-4 {
			return fmt.Errorf("%s: SCT signature is not an ECDSA DigitallySigned", where)
		}
		mtl := append([]byte{0, 0}, te...)
		h := sha256.Sum256(mtl)
		if !ecdsa.VerifyASN1(pub, h[:], sig[4:]) {
			return fmt.Errorf("%s: SCT signature does not verify", where)
		}
		if prev, dup := seen[index]; dup && !bytes.Equal(prev, te) {
			return fmt.Errorf("%s: two different entries claim index %d", where, index)
		}
		seen[index] = te
		if index >= cp.tree.N {
			return fmt.Errorf("%s: leaf_index %d is not in the tree (size %d)", where, index, cp.tree.N)
		}
		leaf := tlog.RecordHash(mtl)
		proof, err := tlog.ProveRecord(cp.tree.N, index, thr)
		if err != nil {
			return fmt.Errorf("%s: inclusion proof for %d: %w", where, index, err)
		}
		if err := tlog.CheckRecord(proof, cp.tree.N, cp.tree.Hash, index, leaf); err != nil {
			return fmt.Errorf("%s: entry is not at index %d: %w", where, index, err)
		}
		// the data tile holds the same entry, its precertificate and issuers
		w := 256
		if index/256 == cp.tree.N/256 {
			w = int(cp.tree.N % 256)
		}
		dt, err := f.getTile("data", index/256, w, 0)
		if err != nil {
			return fmt.Errorf("%s: data tile: %w", where, err)
		}
		rest := cryptobyte.String(dt)
		var gotTE, gotPre []byte
		var fps [][]byte
		for i := int64(0); i <= index%256; i++ {
			if gotTE, gotPre, fps, rest, err = tileLeaf(rest); err != nil {
				return fmt.Errorf("%s: data tile entry %d: %w", where, i, err)
			}
		}
		if !bytes.Equal(gotTE, te) {
			return fmt.Errorf("%s: data tile entry %d differs from the SCT's entry", where, index)
		}
		if s.Precert && !s.Final && !bytes.Equal(gotPre, certs[0]) {
			return fmt.Errorf("%s: data tile pre_certificate differs", where)
		}
		if len(fps) < len(certs)-1 {
			return fmt.Errorf("%s: data tile lists %d issuers, chain has %d", where, len(fps), len(certs)-1)
		}
		for i, fp := range fps {
			if i+1 < len(certs) {
				want := sha256.Sum256(certs[i+1])
				if !bytes.Equal(fp, want[:]) {
					return fmt.Errorf("%s: issuer %d fingerprint differs", where, i)
				}
			}
			hx := hex.EncodeToString(fp)
			if !issuersOK[hx] {
				b, code, err := f.get("issuer/" + hx)
				got := sha256.Sum256(b)
				if err != nil || code != 200 || !bytes.Equal(got[:], fp) {
					return fmt.Errorf("%s: /issuer/%s missing or wrong", where, hx)
				}
				issuersOK[hx] = true
			}
		}
		count++
	}
	fmt.Printf("inclusion: %d submissions verified (SCT signature, entry, proof, data tile, issuers) in a tree of %d; %d fetches\n",
		count, cp.tree.N, f.n)
	return nil
}

// --- gen: distinct chains for load tests -----------------------------------

func readPEM(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	return blk.Bytes, nil
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	certPath := fs.String("issuer-cert", "", "issuing CA certificate (PEM)")
	keyPath := fs.String("issuer-key", "", "issuing CA key (PEM, EC)")
	rootPath := fs.String("root", "", "root to append to each chain (optional)")
	n := fs.Int("n", 100, "number of chains")
	precert := fs.Bool("precert", false, "precertificates (critical poison)")
	out := fs.String("out", "", "output: one add-(pre-)chain body per line")
	fs.Parse(args)

	issuerDER, err := readPEM(*certPath)
	if err != nil {
		return err
	}
	issuer, err := x509.ParseCertificate(issuerDER)
	if err != nil {
		return err
	}
	keyDER, err := readPEM(*keyPath)
	if err != nil {
		return err
	}
	var signer *ecdsa.PrivateKey
	if k, err := x509.ParseECPrivateKey(keyDER); err == nil {
		signer = k
	} else if k, err := x509.ParsePKCS8PrivateKey(keyDER); err == nil {
		signer, _ = k.(*ecdsa.PrivateKey)
	}
	if signer == nil {
		return errors.New("issuer key: not an EC key")
	}
	var tail []string
	tail = append(tail, base64.StdEncoding.EncodeToString(issuerDER))
	if *rootPath != "" {
		rootDER, err := readPEM(*rootPath)
		if err != nil {
			return err
		}
		tail = append(tail, base64.StdEncoding.EncodeToString(rootDER))
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	now := time.Now()
	for i := 0; i < *n; i++ {
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		tmpl := &x509.Certificate{
			SerialNumber:   serial,
			Subject:        pkix.Name{CommonName: fmt.Sprintf("load-%d", i)},
			NotBefore:      now.Add(-time.Minute),
			NotAfter:       now.Add(10 * time.Minute),
			KeyUsage:       x509.KeyUsageDigitalSignature,
			ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			EmailAddresses: []string{fmt.Sprintf("load-%d@example.com", i)},
		}
		if *precert {
			tmpl.ExtraExtensions = []pkix.Extension{{Id: poisonOID, Critical: true, Value: asn1.NullBytes}}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &leafKey.PublicKey, signer)
		if err != nil {
			return err
		}
		chain := append([]string{base64.StdEncoding.EncodeToString(der)}, tail...)
		line, _ := json.Marshal(map[string][]string{"chain": chain})
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}
