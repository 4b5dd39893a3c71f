// Package sdktest runs a contract natively, against an in-memory host, so that contract authors
// test contracts with plain go test:
//
//	env := sdktest.New()
//	alice := sdktest.Account("alice")
//	_, err := env.Instantiate(alice, InitMsg{Supply: 100})
//	_, err = env.Execute(alice, sdktest.Msg("transfer", Transfer{To: bob.ID, Amount: 5}))
//	bal, err := sdktest.QueryAs[Balance](env, bob, sdktest.Msg("balance", struct{}{}))
//
// The host follows the VM's rules: a failed call leaves storage, events, sent messages and
// transfers as they were, queries cannot write, emit, send or transfer, keys, values, inputs and
// event topics have the VM's default limits, and a violation or a panic is reported as ErrTrap.
// Calls are serialised: the contract's handlers are global to the test binary. Gas is not
// metered natively; run the contract through the VM (contract/vm tests) for gas figures.
//
// Messages and transfers a contract makes are recorded (Env.Sent, Env.Transfers), not delivered:
// a test delivers a message to another contract's Env with Deliver, and plays the chain with
// Deposit, Bounce, BounceMessage and BounceTransfer (the caller Chain). The package imports the
// standard library and the SDK.
package sdktest
