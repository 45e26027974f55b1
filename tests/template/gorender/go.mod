module fulcrum/tests/template/gorender

go 1.21
