//! Who is connected, what each emit is expected to reach, and the exactly-once check.
//!
//! Population: `admins` admin connections (page `admin`, one each), then `users` users
//! with two tabs each (page `modules`). Connection `c` is admin `c` when `c < admins`,
//! otherwise tab `(c - admins) % 2` of user `(c - admins) / 2`. Every expected delivery
//! follows from this layout and from how many events of each kind were emitted, so the
//! check needs no record of what was sent to whom.

/// The kinds of bench events a client can receive (each with its own sequence space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `bench:admin` (`to_admins`) and `admin:action` (`admin_action`): admins only.
    AdminBroadcast,
    /// `system:maintenance` (`maintenance_mode`): every connection.
    All,
    /// `user:module:added`: the owner's two tabs. Sequence = the owner's user index.
    UserModuleAdded,
    /// `admin:module:added`: every admin. Sequence = the owner's user index.
    AdminModuleAdded,
    /// `module:status:changed`: the owner's tabs and every admin. Sequence = user index.
    StatusChanged,
    /// `module:telemetry:updated` (emit API) or `bench:user` (in-process): the owner's
    /// two tabs. Event `n` is user `n % users`.
    Telemetry,
}

/// Number of [`Kind`]s.
pub const KINDS: usize = 6;

impl Kind {
    pub const ALL: [Kind; KINDS] = [
        Kind::AdminBroadcast,
        Kind::All,
        Kind::UserModuleAdded,
        Kind::AdminModuleAdded,
        Kind::StatusChanged,
        Kind::Telemetry,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::AdminBroadcast => "bench:admin + admin:action",
            Kind::All => "system:maintenance",
            Kind::UserModuleAdded => "user:module:added",
            Kind::AdminModuleAdded => "admin:module:added",
            Kind::StatusChanged => "module:status:changed",
            Kind::Telemetry => "module:telemetry:updated|bench:user",
        }
    }
}

/// A connection's place in the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin(u32),
    /// A user's tab (two per user).
    User(u32),
}

#[derive(Debug, Clone, Copy)]
pub struct Population {
    pub admins: u32,
    pub users: u32,
}

impl Population {
    /// `connections` split into `admin_percent`% admins (at least one) and users with two
    /// tabs (an odd remainder is dropped).
    pub fn new(connections: u32, admin_percent: f64) -> Self {
        let admins = ((f64::from(connections) * admin_percent / 100.0).round() as u32)
            .clamp(1, connections.max(3) - 2);
        let users = (connections.saturating_sub(admins) / 2).max(1);
        Self { admins, users }
    }

    pub fn connections(&self) -> u32 {
        self.admins + 2 * self.users
    }

    pub fn role(&self, connection: u32) -> Role {
        if connection < self.admins {
            Role::Admin(connection)
        } else {
            let rest = connection - self.admins;
            Role::User(rest / 2)
        }
    }

    /// How many connections one event of `kind` reaches.
    pub fn recipients(&self, kind: Kind) -> u32 {
        match kind {
            Kind::AdminBroadcast | Kind::AdminModuleAdded => self.admins,
            Kind::All => self.connections(),
            Kind::UserModuleAdded | Kind::Telemetry => 2,
            Kind::StatusChanged => 2 + self.admins,
        }
    }

    /// The sequences of `kind` that `connection` must receive, given `emitted` events
    /// of that kind (for the module kinds: users set up).
    pub fn expected(&self, connection: u32, kind: Kind, emitted: u32) -> Expected {
        match (kind, self.role(connection)) {
            (Kind::AdminBroadcast | Kind::AdminModuleAdded, Role::Admin(_))
            | (Kind::All, _)
            | (Kind::StatusChanged, Role::Admin(_)) => Expected::Range(emitted),
            (Kind::UserModuleAdded | Kind::StatusChanged, Role::User(user)) => {
                if user < emitted {
                    Expected::One(user)
                } else {
                    Expected::Nothing
                }
            }
            (Kind::Telemetry, Role::User(user)) => Expected::Stride {
                first: user,
                step: self.users,
                end: emitted,
            },
            _ => Expected::Nothing,
        }
    }
}

/// A set of sequence numbers.
#[derive(Debug, Clone, Copy)]
pub enum Expected {
    Nothing,
    /// `0..n`.
    Range(u32),
    One(u32),
    /// `first, first + step, …` below `end`.
    Stride {
        first: u32,
        step: u32,
        end: u32,
    },
}

impl Expected {
    pub fn contains(self, seq: u32) -> bool {
        match self {
            Expected::Nothing => false,
            Expected::Range(n) => seq < n,
            Expected::One(one) => seq == one,
            Expected::Stride { first, step, end } => {
                seq < end && seq >= first && (seq - first).is_multiple_of(step)
            }
        }
    }

    pub fn len(self) -> u64 {
        match self {
            Expected::Nothing => 0,
            Expected::Range(n) => u64::from(n),
            Expected::One(_) => 1,
            Expected::Stride { first, step, end } => {
                if first < end {
                    u64::from((end - 1 - first) / step + 1)
                } else {
                    0
                }
            }
        }
    }
}

/// The outcome of the exactly-once check for one kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Check {
    /// Deliveries the model expects.
    pub expected: u64,
    /// Deliveries received (including duplicates and misdirected ones).
    pub received: u64,
    /// Expected deliveries that never arrived.
    pub missing: u64,
    /// Deliveries of a sequence the connection already had.
    pub duplicates: u64,
    /// Deliveries to a connection that must not receive that sequence (isolation).
    pub misdirected: u64,
    /// Connections with at least one problem.
    pub bad_connections: u64,
}

impl Check {
    pub fn violations(&self) -> u64 {
        self.missing + self.duplicates + self.misdirected
    }

    /// What changed since `earlier` (the same kind's check before a scenario), so a
    /// scenario reports its own deliveries and losses, not those of the run so far.
    /// `bad_connections` stays the run's count (a connection is not bad twice).
    pub fn since(self, earlier: Check) -> Check {
        Check {
            expected: self.expected - earlier.expected,
            received: self.received - earlier.received,
            missing: self.missing.saturating_sub(earlier.missing),
            duplicates: self.duplicates - earlier.duplicates,
            misdirected: self.misdirected - earlier.misdirected,
            bad_connections: self.bad_connections,
        }
    }

    /// Checks one connection's received sequences of a kind against what it expects.
    pub fn add(&mut self, expected: Expected, received: &[u32]) {
        let mut seqs = received.to_vec();
        seqs.sort_unstable();
        let mut valid_distinct = 0u64;
        let before = self.violations();
        let mut previous = None;
        for &seq in &seqs {
            if previous == Some(seq) {
                self.duplicates += 1;
                continue;
            }
            previous = Some(seq);
            if expected.contains(seq) {
                valid_distinct += 1;
            } else {
                self.misdirected += 1;
            }
        }
        self.expected += expected.len();
        self.received += seqs.len() as u64;
        self.missing += expected.len() - valid_distinct;
        if self.violations() > before {
            self.bad_connections += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_expectations() {
        let population = Population::new(500, 1.0);
        assert_eq!(population.admins, 5);
        assert_eq!(population.users, 247);
        assert_eq!(population.role(4), Role::Admin(4));
        assert_eq!(population.role(5), Role::User(0));
        assert_eq!(population.role(6), Role::User(0));
        assert_eq!(population.role(7), Role::User(1));
        let stride = population.expected(7, Kind::Telemetry, 1000);
        assert!(stride.contains(1) && stride.contains(248) && !stride.contains(2));
        assert_eq!(stride.len(), 5); // 1, 248, 495, 742, 989
        let mut check = Check::default();
        check.add(stride, &[1, 248, 248, 2, 495, 742]);
        assert_eq!(
            (check.duplicates, check.misdirected, check.missing),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_scenario_reports_only_its_own_losses() {
        let population = Population::new(500, 1.0);
        // After 248 events user 1's tab expects seq 1, which never came.
        let mut before = Check::default();
        before.add(population.expected(7, Kind::Telemetry, 248), &[]);
        assert_eq!(before.missing, 1);
        // The next scenario's four events (248, 495, 742, 989) all arrive.
        let mut after = Check::default();
        after.add(
            population.expected(7, Kind::Telemetry, 1000),
            &[248, 495, 742, 989],
        );
        let own = after.since(before);
        assert_eq!((own.expected, own.received, own.missing), (4, 4, 0));
    }
}
