//! Wire types of the Management API, as in Auth0's OpenAPI document.
