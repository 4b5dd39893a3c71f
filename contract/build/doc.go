// Package build compiles a Go contract (a main package using the SDK) to a contract module:
// go build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared -trimpath -ldflags="-s -w", then
// wasm-opt -Oz when it is on PATH (never required), then vm.Validate. The phala CLI's
// "contract build DIR" calls Build. It imports the standard library and contract/vm, and runs
// the go tool (and wasm-opt) as subprocesses.
package build
