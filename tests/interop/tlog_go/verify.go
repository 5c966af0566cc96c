// verify.go - an independent check of keygate's decision log formats with Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog (Debian golang-golang-x-mod-dev): the signed
// checkpoint (C2SP signed-note, Ed25519), the tree rebuilt from the C2SP tiles (TileHashReader
// checks every tile against the signed root), Go's own proofs, and keygate's inclusion and
// consistency proofs (CheckRecord / CheckTree). Usage: go run verify.go DIR
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog_go: "+f+"\n", a...)
	os.Exit(1)
}

type tiles struct{ dir string }

func (t tiles) Height() int { return 8 }

// C2SP tlog-tiles drops Go's height element: tile/8/L/N -> tile/L/N.
func (t tiles) path(tile tlog.Tile) string {
	return filepath.Join(t.dir, strings.Replace(tile.Path(), "tile/8/", "tile/", 1))
}

func (t tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		b, err := os.ReadFile(t.path(tile))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (t tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func hash(s string) tlog.Hash {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		die("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func main() {
	dir := os.Args[1]
	vkey, _ := os.ReadFile(filepath.Join(dir, "vkey"))
	msg, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		die("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		die("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		die("checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		die("size: %v", err)
	}
	rb, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rb) != 32 {
		die("root: %v", err)
	}
	var tree tlog.Tree
	tree.N = size
	copy(tree.Hash[:], rb)
	fmt.Printf("checkpoint: %s size %d signed by %s: ok\n", lines[0], size, v.Name())

	// a tampered checkpoint must not open
	bad := []byte(strings.Replace(string(msg), "\n"+lines[1]+"\n", "\n"+lines[1]+"0\n", 1))
	if _, err := note.Open(bad, note.VerifierList(v)); err == nil {
		die("a modified checkpoint verified")
	}

	tr := tiles{dir}
	hr := tlog.TileHashReader(tree, tr)
	th, err := tlog.TreeHash(size, hr)
	if err != nil || th != tree.Hash {
		die("tree hash from tiles: %v", err)
	}
	// leaf hashes from the entry bundles (big-endian uint16 length + entry)
	var leaves []tlog.Hash
	for t := int64(0); t*256 < size; t++ {
		w := size - t*256
		if w > 256 {
			w = 256
		}
		tile := tlog.Tile{H: 8, L: 0, N: t, W: int(w)}
		p := strings.Replace(tile.Path(), "tile/8/0/", "tile/entries/", 1)
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			die("bundle: %v", err)
		}
		for len(b) > 0 {
			l := int(binary.BigEndian.Uint16(b))
			leaves = append(leaves, tlog.RecordHash(b[2:2+l]))
			b = b[2+l:]
		}
	}
	if int64(len(leaves)) != size {
		die("bundles hold %d entries, want %d", len(leaves), size)
	}
	for i := int64(0); i < size; i++ {
		p, err := tlog.ProveRecord(size, i, hr)
		if err != nil {
			die("Go proof %d: %v", i, err)
		}
		if err := tlog.CheckRecord(p, size, tree.Hash, i, leaves[i]); err != nil {
			die("entry %d not in the tree: %v", i, err)
		}
	}
	fmt.Printf("tiles: %d entries, every one proven in the signed tree: ok\n", size)

	f, _ := os.Open(filepath.Join(dir, "proofs.txt"))
	sc := bufio.NewScanner(f)
	ninc, ncons := 0, 0
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		switch w[0] {
		case "inclusion":
			i, _ := strconv.ParseInt(w[1], 10, 64)
			var p tlog.RecordProof
			for _, h := range w[2:] {
				p = append(p, hash(h))
			}
			if err := tlog.CheckRecord(p, size, tree.Hash, i, leaves[i]); err != nil {
				die("keygate inclusion proof %d: %v", i, err)
			}
			if i+1 < size && tlog.CheckRecord(p, size, tree.Hash, i, leaves[i+1]) == nil {
				die("keygate inclusion proof %d proves another entry", i)
			}
			ninc++
		case "consistency":
			m, _ := strconv.ParseInt(w[1], 10, 64)
			old := hash(w[2])
			var p tlog.TreeProof
			for _, h := range w[3:] {
				p = append(p, hash(h))
			}
			if err := tlog.CheckTree(p, size, tree.Hash, m, old); err != nil {
				die("keygate consistency proof %d -> %d: %v", m, size, err)
			}
			gp, err := tlog.ProveTree(size, m, hr)
			if err != nil || len(gp) != len(p) {
				die("Go's consistency proof differs in length: %v", err)
			}
			for j := range gp {
				if gp[j] != p[j] {
					die("Go's consistency proof differs at %d", j)
				}
			}
			ncons++
		}
	}
	if ninc == 0 || ncons == 0 {
		die("no proofs checked")
	}
	fmt.Printf("keygate proofs: %d inclusion, %d consistency verified by Go's tlog: ok\n", ninc, ncons)
}
