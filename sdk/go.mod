module github.com/phala-go/phala/sdk

go 1.26
