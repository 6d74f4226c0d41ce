//! GET /whoami: what the authorizer decided about the caller (the AuthResponse of the source
//! documents: principal, routes, context), and whose data they work on.

use super::json::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::extract::Principal;

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// Who the authorizer says is calling: a user name, a Cognito claim, an IAM ARN.
    principal: String,
    /// Which authorizer decided: builtin, oidc, lambda, cognito, iam or custom.
    authorizer: &'static str,
    /// The name the caller's todos are kept under.
    owner: String,
    admin: bool,
    /// The route patterns the caller may call (`*` for all).
    routes: Vec<String>,
    /// What the authorizer added: a token's id and expiry, a gateway authorizer's claims.
    #[schema(value_type = Object)]
    context: Map<String, Value>,
}

/// Who am I
#[utoipa::path(get, path = "/whoami", tag = "auth", security(("token" = [])),
    responses(
        (status = 200, body = WhoAmI, description = "The authorizer's decision about the caller"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "The caller's token is limited to other routes"),
    ))]
pub async fn whoami(Principal(caller): Principal) -> Json<WhoAmI> {
    Json(WhoAmI {
        principal: caller.principal.to_string(),
        authorizer: caller.authorizer,
        owner: caller.owner.to_string(),
        admin: caller.admin,
        routes: caller.routes.patterns(),
        context: Map::clone(&caller.context),
    })
}
