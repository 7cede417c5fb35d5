//! `portcullis admin ...`: user administration from the shell (the admin plugin's
//! `plugins::admin::manage`), so the first admin needs no SQL.

use clap::Subcommand;
use portcullis::plugins::admin::{config::AdminConfig, manage, roles};
use portcullis::{Auth, Config};

#[derive(Subcommand)]
pub enum Action {
    /// Create a user with a password and a role (default `admin`): the first admin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// The password (or PORTCULLIS_ADMIN_PASSWORD, which keeps it out of the shell history).
        #[arg(long, env = "PORTCULLIS_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Set the role of a user (several: `admin,user`).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Ban a user and end their sessions.
    Ban {
        #[arg(long)]
        email: String,
        #[arg(long)]
        reason: Option<String>,
        /// Seconds until the ban lifts (default: `admin.default_ban_expires_in`, else never).
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Lift a user's ban.
    Unban {
        #[arg(long)]
        email: String,
    },
    /// List users (e-mail, role, banned), optionally those whose e-mail contains SEARCH.
    List {
        search: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

pub async fn run(mut cfg: Config, action: Action) -> Result<(), String> {
    cfg.section_mut::<AdminConfig>().map_err(|e| e.to_string())?.enabled = true;
    cfg.background = false;
    let auth = Auth::from_config(cfg).await.map_err(|e| e.to_string())?;
    auth.migrate().await.map_err(|e| e.to_string())?;
    let show = |u: &portcullis::store::model::User| {
        let banned = u.extra.get("banned").and_then(|v| v.as_bool()).unwrap_or(false);
        format!("{}\t{}\t{}\t{}", u.id, u.email, roles::role_of(u).unwrap_or(""), if banned { "banned" } else { "" })
    };
    let err = |e: portcullis::ApiError| format!("{} ({})", e.message, e.code.unwrap_or("error"));
    let user = match action {
        Action::Create { email, name, password, role } => manage::create_user(&auth, &email, &name, &password, &role).await.map_err(err)?,
        Action::SetRole { email, role } => manage::set_role(&auth, &email, &role).await.map_err(err)?,
        Action::Ban { email, reason, expires_in } => manage::ban_user(&auth, &email, reason.as_deref(), expires_in).await.map_err(err)?,
        Action::Unban { email } => manage::unban_user(&auth, &email).await.map_err(err)?,
        Action::List { search, limit } => {
            for u in manage::list_users(&auth, search.as_deref(), limit.max(1)).await.map_err(err)? {
                println!("{}", show(&u));
            }
            return Ok(());
        }
    };
    println!("{}", show(&user));
    Ok(())
}
