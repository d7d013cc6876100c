package params

// Cost parameter keys: the estimate of what a live preview costs per hour
// (internal/cost), in the currency of the server config's price table.
const (
	// KeyCostPerHour is a decimal string with 4 decimals ("0.0412"); a
	// sleeping preview counts only its storage. "" when the server config
	// has no pricing, or the preview's manifests could not be measured.
	KeyCostPerHour = "cost_per_hour"
	// KeyCostCurrency is the price table's currency ("USD"), "" when
	// cost_per_hour is "".
	KeyCostCurrency = "cost_currency"
)
