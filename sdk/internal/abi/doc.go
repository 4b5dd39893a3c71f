// Package abi connects the SDK to the in-memory host of package sdktest when a contract is
// compiled natively. Compiled to Wasm, the SDK talks to the VM's imports instead and this
// package is unused. It imports nothing.
package abi
