package model

// PageType is Nosto's page type tag (nosto_page_type).
type PageType string

// The page types Nosto defines.
const (
	PageFront    PageType = "front"
	PageCategory PageType = "category"
	PageProduct  PageType = "product"
	PageCart     PageType = "cart"
	PageSearch   PageType = "search"
	PageNotFound PageType = "notfound"
	PageOrder    PageType = "order"
	PageOther    PageType = "other"
	PageCheckout PageType = "checkout"
)

// Action is a Nosto session action: what the visitor just did.
type Action string

// The actions of Nosto's Session API.
const (
	ActionViewFrontPage Action = "viewFrontPage"
	ActionViewCategory  Action = "viewCategory"
	ActionViewProduct   Action = "viewProduct"
	ActionViewCart      Action = "viewCart"
	ActionViewSearch    Action = "viewSearch"
	ActionViewNotFound  Action = "viewNotFound"
	ActionAddOrder      Action = "addOrder"
	ActionViewOther     Action = "viewOther"
)

var pageActions = map[PageType]Action{
	PageFront:    ActionViewFrontPage,
	PageCategory: ActionViewCategory,
	PageProduct:  ActionViewProduct,
	PageCart:     ActionViewCart,
	PageSearch:   ActionViewSearch,
	PageNotFound: ActionViewNotFound,
	PageOrder:    ActionAddOrder,
	PageOther:    ActionViewOther,
	// Nosto has no checkout action; a checkout page is still a cart view.
	PageCheckout: ActionViewCart,
}

// Valid reports whether p is one of Nosto's page types.
func (p PageType) Valid() bool {
	_, ok := pageActions[p]
	return ok
}

// Action is the action a view of this page type stands for, or "" when the
// page type is unknown.
func (p PageType) Action() Action { return pageActions[p] }

// Valid reports whether a is one of Nosto's session actions.
func (a Action) Valid() bool {
	for _, known := range pageActions {
		if a == known {
			return true
		}
	}
	return false
}
