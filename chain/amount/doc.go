// Package amount is the chain's unsigned 128-bit token amount: balances and fees in the smallest
// unit (10^-12 PHA, as on Phala). Arithmetic is overflow-checked and every string form is
// canonical, so an amount has exactly one encoding in transactions and state.
//
// It imports only the standard library.
package amount
