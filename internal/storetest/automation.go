package storetest

import "testing"

func testAutomation(t *testing.T, s Store) {}
