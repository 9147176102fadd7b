// Package provider asks external systems for a verdict on an analysis
// window: a Prometheus instant query compared with bounds, or a webhook
// that answers pass, fail or inconclusive.
//
// Main flow: New builds a Set from analysis.providers in the config. At
// the end of each window the controller calls Set.Judge, which asks every
// provider at once, each bounded by its timeout and a response size limit,
// and returns one analysis.ProviderResult per provider; analysis.Combine
// merges them into the window's verdict. A provider that cannot be
// reached, times out or answers something unreadable is inconclusive with
// the reason, never a pass.
package provider
