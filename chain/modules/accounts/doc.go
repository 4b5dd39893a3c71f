// Package accounts holds balances and nonces, charges transaction fees and moves funds.
//
// Every transaction passes Ante before its messages run: size limit, fee at least the governed
// rate, nonce exactly the account's next, fee paid to the fee collector and nonce consumed.
// Amounts are 128-bit integers in the smallest unit (10^-12 PHA); the total issuance is tracked
// so the invariant sum(balances) == issuance can be checked.
//
// Deterministic: imports chain/module, chain/store, chain/amount, chain/tx, crypto/keys.
package accounts
