//! Manager users (`auth.users`) and their read/write permissions (spec http-api §10.4).

/// One permission: a resource (or `*`) and the actions allowed on it (`r`, `w`, `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// Resource id or `*`.
    pub resource: String,
    /// Action letters.
    pub actions: String,
}

/// A manager user from `auth.users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerUser {
    /// Login name.
    pub name: String,
    /// Password.
    pub password: String,
    /// What the user may do.
    pub permissions: Vec<Permission>,
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads only.
    Read,
    /// Changes state.
    Write,
    /// Needs no credentials (health, login).
    Open,
}

impl ManagerUser {
    /// Whether the user may perform `access` on `resource`.
    pub fn allows(&self, resource: &str, access: Access) -> bool {
        let needed = match access {
            Access::Open => return true,
            Access::Read => 'r',
            Access::Write => 'w',
        };
        self.permissions.iter().any(|p| {
            (p.resource == "*" || p.resource == resource)
                && (p.actions.contains('*') || p.actions.contains(needed))
        })
    }

    /// Permissions in the `res:acts,res:acts` form `/manager/login` returns.
    pub fn permissions_text(&self) -> String {
        self.permissions
            .iter()
            .map(|p| format!("{}:{}", p.resource, p.actions))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Parses `auth.users` (`name:password:*` or `name:password:[res:acts,…]`). Errors name the
/// entry. No entries means no users: unlike WuKongIM v2 there is no implicit `guest:guest`, whose
/// public password would let anyone read everything.
pub fn parse_users(entries: &[String], manager_uid: &str) -> Result<Vec<ManagerUser>, String> {
    let mut users = Vec::new();
    for entry in entries {
        let user = if let Some(start) = entry.find('[') {
            let end = entry[start..]
                .find(']')
                .map(|e| start + e)
                .ok_or_else(|| format!("auth.users entry {entry:?} has an unclosed ["))?;
            let inner = &entry[start + 1..end];
            let head = format!("{}{}", &entry[..start], &entry[end + 1..]);
            let mut parts = head.split(':').filter(|p| !p.is_empty());
            let (Some(name), Some(password)) = (parts.next(), parts.next()) else {
                return Err(format!("auth.users entry {entry:?} needs name:password"));
            };
            let permissions = inner
                .split(',')
                .filter_map(|p| {
                    let (res, acts) = p.trim().split_once(':')?;
                    Some(Permission {
                        resource: res.trim().to_string(),
                        actions: acts.trim().to_string(),
                    })
                })
                .collect();
            ManagerUser {
                name: name.to_string(),
                password: password.to_string(),
                permissions,
            }
        } else {
            let parts: Vec<&str> = entry.split(':').collect();
            if parts.len() != 3 || parts[2] != "*" {
                return Err(format!(
                    "auth.users entry {entry:?} must be name:password:* or name:password:[res:acts,…]"
                ));
            }
            ManagerUser {
                name: parts[0].to_string(),
                password: parts[1].to_string(),
                permissions: vec![Permission {
                    resource: "*".into(),
                    actions: "*".into(),
                }],
            }
        };
        if user.name == manager_uid {
            return Err(format!(
                "auth.users may not name the manager uid {manager_uid:?}"
            ));
        }
        users.push(user);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse_in_both_forms() {
        let users = parse_users(
            &["admin:pwd:*".into(), "ops:ops:[slotMigrate:rw, *:r]".into()],
            "____manager",
        )
        .unwrap();
        assert!(users[0].allows("message", Access::Write));
        assert!(users[1].allows("message", Access::Read));
        assert!(!users[1].allows("message", Access::Write));
        assert!(users[1].allows("slotMigrate", Access::Write));
        assert_eq!(users[1].permissions_text(), "slotMigrate:rw,*:r");
        assert!(parse_users(&["bad:entry".into()], "m").is_err());
        assert!(parse_users(&["____manager:x:*".into()], "____manager").is_err());
        assert!(
            parse_users(&[], "m").unwrap().is_empty(),
            "no implicit guest"
        );
    }
}
