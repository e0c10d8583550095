// Generates test/vectors/go-tlog.json with golang.org/x/mod/sumdb/tlog and sumdb/note (Debian's
// golang-golang-x-mod-dev 0.7.0), an implementation independent of keyledger's. Not part of the build:
//
//   GO111MODULE=off GOPATH=/usr/share/gocode go run test/vectors/gen-go-tlog.go > test/vectors/go-tlog.json
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type storage []tlog.Hash

func (s storage) ReadHashes(index []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(index))
	for i, x := range index {
		out[i] = s[x]
	}
	return out, nil
}

func hexes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

type proof struct {
	Size  int64    `json:"size"`
	Index int64    `json:"index"`
	Proof []string `json:"proof"`
}

type consistency struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof []string `json:"proof"`
}

func main() {
	const n = 40
	var s storage
	var leaves []string
	var roots []string
	for i := int64(0); i < n; i++ {
		data := []byte(fmt.Sprintf("leaf %d", i))
		hs, err := tlog.StoredHashes(i, data, s)
		if err != nil {
			panic(err)
		}
		s = append(s, hs...)
		leaves = append(leaves, string(data))
		th, err := tlog.TreeHash(i+1, s)
		if err != nil {
			panic(err)
		}
		roots = append(roots, hex.EncodeToString(th[:]))
	}
	var inclusion []proof
	var trees []consistency
	for t := int64(1); t <= n; t++ {
		for i := int64(0); i < t; i += 1 + t/4 {
			p, err := tlog.ProveRecord(t, i, s)
			if err != nil {
				panic(err)
			}
			inclusion = append(inclusion, proof{t, i, hexes(p)})
		}
		for o := int64(1); o <= t; o += 1 + t/3 {
			p, err := tlog.ProveTree(t, o, s)
			if err != nil {
				panic(err)
			}
			trees = append(trees, consistency{o, t, hexes(p)})
		}
	}
	signer, err := note.NewSigner("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
	if err != nil {
		panic(err)
	}
	body := string(tlog.FormatTree(tlog.Tree{N: n, Hash: func() tlog.Hash { h, _ := tlog.TreeHash(n, s); return h }()}))
	checkpoint := "example.com/keyledger-test\n" + body[len("go.sum database tree\n"):]
	signed, err := note.Sign(&note.Note{Text: checkpoint}, signer)
	if err != nil {
		panic(err)
	}
	out := map[string]interface{}{
		"source":        "golang.org/x/mod/sumdb/tlog and sumdb/note, Debian golang-golang-x-mod-dev 0.7.0 (test/vectors/gen-go-tlog.go)",
		"leaves":        leaves,
		"storedHashes":  hexes(s),
		"roots":         roots,
		"inclusion":     inclusion,
		"consistency":   trees,
		"signerVkey":    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"signedCheckpoint": string(signed),
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
