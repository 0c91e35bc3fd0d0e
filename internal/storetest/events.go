package storetest

import "testing"

func testEvents(t *testing.T, s Store) {}
