//! The permission rules, in one place (00-product §1 and §3).
//!
//! A permission is a `(category, action)` pair held in a project. Reading secrets needs any
//! permission in the project; every secret mutation deploys or undeploys, so it needs
//! `SECRETS`+`MANAGE` **and** `SECRETS`+`DEPLOY_UNDEPLOY`; exporting needs `SECRETS`+`EXPORT_IMPORT`.
//! A system admin may do everything everywhere. A non-member is told the project does not exist.
//!
//! Private material (private JWK members, key content, keystore files) is stricter than
//! Apinizer's "any permission reads", on purpose (00-product §1): only `SECRETS`+`MANAGE` or
//! `SECRETS`+`EXPORT_IMPORT` holders see it; an agent's bundle carries it only for projects where
//! the token's owner holds `SECRETS`+`DEPLOY_UNDEPLOY`.

use std::collections::{HashMap, HashSet};

use keyward_store::Grant;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            #[allow(dead_code)]
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            /// Case-sensitive, as Apinizer's JSON enums are.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// What a permission is about.
    Category {
        ApiManagement = "API_MANAGEMENT",
        Connections = "CONNECTIONS",
        Identity = "IDENTITY",
        Secrets = "SECRETS",
        GlobalSettings = "GLOBAL_SETTINGS",
        ProjectManagement = "PROJECT_MANAGEMENT",
    }
);

string_enum!(
    /// What a permission allows.
    Action {
        View = "VIEW",
        Manage = "MANAGE",
        DeployUndeploy = "DEPLOY_UNDEPLOY",
        ExportImport = "EXPORT_IMPORT",
    }
);

/// What an operation on a project's secrets needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// List/get: any permission in the project.
    Read,
    /// Create/update/delete, which always deploy or undeploy.
    ManageAndDeploy,
    /// Export files.
    Export,
}

impl Need {
    /// The `SECRETS` actions required beyond membership.
    fn secrets_actions(self) -> &'static [Action] {
        match self {
            Need::Read => &[],
            Need::ManageAndDeploy => &[Action::Manage, Action::DeployUndeploy],
            Need::Export => &[Action::ExportImport],
        }
    }
}

/// The authenticated caller: a user acting through one token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub sys_admin: bool,
    pub token_id: String,
    /// The token's expiry, unix ms.
    pub expires_at: Option<i64>,
    /// An agent token's environment `(id, name)`: such a token may only follow that environment
    /// through the agent endpoints (docs/agent.md); every other route refuses it.
    pub environment: Option<(String, String)>,
    grants: HashMap<String, HashSet<(Category, Action)>>,
}

impl Principal {
    pub fn new(
        user_id: String,
        username: String,
        sys_admin: bool,
        token_id: String,
        expires_at: Option<i64>,
        grants: &[Grant],
    ) -> Principal {
        let mut map: HashMap<String, HashSet<(Category, Action)>> = HashMap::new();
        for g in grants {
            if let (Some(c), Some(a)) = (Category::parse(&g.category), Action::parse(&g.action)) {
                map.entry(g.project_id.clone()).or_default().insert((c, a));
            }
        }
        Principal {
            user_id,
            username,
            sys_admin,
            token_id,
            expires_at,
            environment: None,
            grants: map,
        }
    }

    /// The same caller, limited to following one environment (an agent token).
    pub fn for_environment(mut self, environment: Option<(String, String)>) -> Principal {
        self.environment = environment;
        self
    }

    /// Whether the caller may see the project at all.
    pub fn is_member(&self, project_id: &str) -> bool {
        self.sys_admin || self.grants.get(project_id).is_some_and(|g| !g.is_empty())
    }

    /// Whether the caller may see private material of the project (private JWK members, key
    /// content, keystore files): `SECRETS`+`MANAGE` or `SECRETS`+`EXPORT_IMPORT`.
    pub fn may_read_private(&self, project_id: &str) -> bool {
        self.sys_admin
            || self.grants.get(project_id).is_some_and(|g| {
                g.contains(&(Category::Secrets, Action::Manage))
                    || g.contains(&(Category::Secrets, Action::ExportImport))
            })
    }

    /// Whether the caller deploys the project's secrets (`SECRETS`+`DEPLOY_UNDEPLOY`): an agent's
    /// bundle carries private material only for such projects.
    pub fn may_deploy(&self, project_id: &str) -> bool {
        self.sys_admin
            || self
                .grants
                .get(project_id)
                .is_some_and(|g| g.contains(&(Category::Secrets, Action::DeployUndeploy)))
    }

    /// Whether the caller deploys secrets in at least one project (or is a system admin): only
    /// such users may hold agent tokens.
    pub fn deploys_somewhere(&self) -> bool {
        self.sys_admin
            || self
                .grants
                .values()
                .any(|g| g.contains(&(Category::Secrets, Action::DeployUndeploy)))
    }

    /// Whether the caller may perform an operation needing `need` in the project.
    pub fn may(&self, project_id: &str, need: Need) -> bool {
        if self.sys_admin {
            return true;
        }
        let Some(held) = self.grants.get(project_id) else {
            return false;
        };
        !held.is_empty()
            && need
                .secrets_actions()
                .iter()
                .all(|a| held.contains(&(Category::Secrets, *a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(project: &str, c: &str, a: &str) -> Grant {
        Grant {
            project_id: project.into(),
            category: c.into(),
            action: a.into(),
        }
    }

    fn principal(grants: &[Grant]) -> Principal {
        Principal::new("u".into(), "user".into(), false, "t".into(), None, grants)
    }

    #[test]
    fn viewer_reads_but_never_writes() {
        let p = principal(&[grant("p1", "SECRETS", "VIEW")]);
        assert!(p.is_member("p1"));
        assert!(p.may("p1", Need::Read));
        assert!(!p.may("p1", Need::ManageAndDeploy));
        assert!(!p.may("p1", Need::Export));
        assert!(!p.is_member("p2"));
    }

    #[test]
    fn manage_without_deploy_is_not_enough_to_write() {
        let p = principal(&[grant("p1", "SECRETS", "MANAGE")]);
        assert!(!p.may("p1", Need::ManageAndDeploy));
        let p = principal(&[
            grant("p1", "SECRETS", "MANAGE"),
            grant("p1", "SECRETS", "DEPLOY_UNDEPLOY"),
        ]);
        assert!(p.may("p1", Need::ManageAndDeploy));
        assert!(!p.may("p2", Need::ManageAndDeploy));
    }

    #[test]
    fn other_categories_grant_membership_only() {
        let p = principal(&[
            grant("p1", "API_MANAGEMENT", "MANAGE"),
            grant("p1", "API_MANAGEMENT", "DEPLOY_UNDEPLOY"),
        ]);
        assert!(p.may("p1", Need::Read));
        assert!(!p.may("p1", Need::ManageAndDeploy));
    }

    #[test]
    fn private_material_needs_manage_or_export() {
        let viewer = principal(&[grant("p1", "SECRETS", "VIEW")]);
        assert!(!viewer.may_read_private("p1"));
        let deployer = principal(&[grant("p1", "SECRETS", "DEPLOY_UNDEPLOY")]);
        assert!(!deployer.may_read_private("p1"));
        assert!(deployer.may_deploy("p1") && !deployer.may_deploy("p2"));
        assert!(deployer.deploys_somewhere() && !viewer.deploys_somewhere());
        let manager = principal(&[grant("p1", "SECRETS", "MANAGE")]);
        assert!(manager.may_read_private("p1") && !manager.may_read_private("p2"));
        let exporter = principal(&[grant("p1", "SECRETS", "EXPORT_IMPORT")]);
        assert!(exporter.may_read_private("p1"));
        let other = principal(&[grant("p1", "IDENTITY", "MANAGE")]);
        assert!(!other.may_read_private("p1") && !other.deploys_somewhere());
    }

    #[test]
    fn sys_admin_may_everything() {
        let p = Principal::new("u".into(), "admin".into(), true, "t".into(), None, &[]);
        assert!(
            p.is_member("any") && p.may("any", Need::ManageAndDeploy) && p.may("any", Need::Export)
        );
    }

    #[test]
    fn enum_names_are_case_sensitive() {
        assert_eq!(Category::parse("SECRETS"), Some(Category::Secrets));
        assert_eq!(Category::parse("secrets"), None);
        assert_eq!(
            Action::parse("DEPLOY_UNDEPLOY"),
            Some(Action::DeployUndeploy)
        );
    }
}
