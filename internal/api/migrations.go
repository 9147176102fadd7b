package api

// MigrationsView is GET /api/v1/migrations: where each schema migration
// stands and whether its contract would be allowed now.
type MigrationsView struct {
	Migrations []MigrationView `json:"migrations"`
}

// MigrationView is one migration.
type MigrationView struct {
	Name    string `json:"name"`
	Phase   string `json:"phase"`
	Missing bool   `json:"missing,omitempty"` // in the history, not in migrations.dir
	// Contract says, for an expanded migration, whether `bluegreen migrate
	// contract` would pass the release gate now, and why not.
	Contract *ContractGate `json:"contract,omitempty"`
}

// ContractGate is the contract gate's answer for one migration.
type ContractGate struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}
