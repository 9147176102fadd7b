package kubernetes

import (
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// TestReadyAddresses: only endpoints that are ready (or say nothing) and
// not terminating are instances; the slice's port wins over Options.Port;
// FQDN slices are skipped; the result is sorted without duplicates.
func TestReadyAddresses(t *testing.T) {
	d := &Driver{opts: Options{Port: 80}}
	yes, no := new(true), new(false)
	port := func(n int32) []discoveryv1.EndpointPort {
		return []discoveryv1.EndpointPort{{Name: new("http"), Port: new(n)}}
	}
	eps := []*discoveryv1.EndpointSlice{
		{
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       port(8080),
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.0.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: yes}},
				{Addresses: []string{"10.0.0.3"}}, // no conditions: ready
				{Addresses: []string{"10.0.0.4"}, Conditions: discoveryv1.EndpointConditions{Ready: no}},
				{Addresses: []string{"10.0.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: yes, Terminating: yes}},
			},
		},
		{
			AddressType: discoveryv1.AddressTypeIPv6,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"fd00::1"}, Conditions: discoveryv1.EndpointConditions{Ready: yes}}},
		},
		{
			AddressType: discoveryv1.AddressTypeFQDN,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"web.example"}}},
		},
		{ // the same endpoint in a second slice (a slice being replaced)
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       port(8080),
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: yes}}},
		},
	}
	got := d.readyAddresses(eps)
	want := []string{"10.0.0.3:8080", "10.0.0.9:8080", "[fd00::1]:80"}
	if !slices.Equal(got, want) {
		t.Errorf("readyAddresses = %v, want %v", got, want)
	}
}
