module github.com/phala-go/phala/contract/vm/testdata/probe

go 1.26

require github.com/phala-go/phala/sdk v0.0.0

replace github.com/phala-go/phala/sdk => ../../../../sdk
