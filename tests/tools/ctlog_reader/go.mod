module fulcrum.invalid/tests/tools/ctlog_reader

go 1.24.0

require (
	golang.org/x/crypto v0.48.0
	golang.org/x/mod v0.32.0
)
