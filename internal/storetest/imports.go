package storetest

import "testing"

func testImports(t *testing.T, s Store) {}
