// Package governance is the council: genesis names its members and threshold; a member proposes
// governed messages, members approve, and once enough current members approved, anyone may
// execute the proposal, which runs its messages atomically with the council's authority.
//
// Other modules register their governed messages on the router (module.Handle with governed
// set) instead of inventing admin keys. Deterministic: imports chain/module, chain/store,
// crypto/keys.
package governance
