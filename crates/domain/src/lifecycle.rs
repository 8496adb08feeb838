//! Every lifecycle state and kind, with its text as the contract and the schema spell it.

text_enum! {
    /// Where a role-mining session is (the contract's `RoleMiningSessionState`).
    pub enum SessionState as "RoleMiningSessionState" {
        /// Recorded; mining is queued.
        Created = "CREATED",
        /// Its parameters changed; mining is queued again.
        Updated = "UPDATED",
        /// The population is resolved.
        IdentitiesObtained = "IDENTITIES_OBTAINED",
        /// The prune threshold is known.
        PruneThresholdObtained = "PRUNE_THRESHOLD_OBTAINED",
        /// Potential roles are being written.
        PotentialRolesProcessing = "POTENTIAL_ROLES_PROCESSING",
        /// Mining finished; its roles are published.
        PotentialRolesCreated = "POTENTIAL_ROLES_CREATED",
        /// Mining failed (see the failure message).
        Failed = "FAILED",
    }
}

text_enum! {
    /// Which part of the access a session mines (the contract's `RoleMiningRoleType`).
    #[derive(Default)]
    pub enum RoleType as "RoleMiningRoleType" {
        /// Everything except common access.
        #[default]
        Specialized = "SPECIALIZED",
        /// Common access only.
        Common = "COMMON",
    }
}

text_enum! {
    /// How a session finds its roles (the extension field `method`; see `contract/semantics.md`).
    #[derive(Default)]
    pub enum MiningMethod as "RoleMiningMethod" {
        /// Peer groups of similar identities, overlapping where people hold several roles.
        #[default]
        PeerGroups = "PEER_GROUPS",
        /// The fewest roles that explain every assignment with no over-grant.
        MinimalCover = "MINIMAL_COVER",
    }
}

text_enum! {
    /// How a session's population was chosen (the contract's `RoleMiningSessionScopingMethod`).
    pub enum ScopingMethod as "RoleMiningSessionScopingMethod" {
        /// Given by the client.
        Manual = "MANUAL",
        /// Chosen automatically.
        AutoRm = "AUTO_RM",
    }
}

text_enum! {
    /// Where a potential role is on its way to becoming a role
    /// (the contract's `RoleMiningPotentialRoleProvisionState`).
    pub enum ProvisionState as "RoleMiningPotentialRoleProvisionState" {
        /// Never provisioned (shown as null).
        Potential = "POTENTIAL",
        /// Provisioning is queued or running.
        Pending = "PENDING",
        /// Provisioned: a role exists.
        Complete = "COMPLETE",
        /// The last provisioning failed; it may be asked again.
        Failed = "FAILED",
    }
}

text_enum! {
    /// Where an export is (the contract's `RoleMiningPotentialRoleExportState`).
    pub enum ExportState as "RoleMiningPotentialRoleExportState" {
        /// Waiting for a worker.
        Queued = "QUEUED",
        /// Being written.
        InProgress = "IN_PROGRESS",
        /// Written; downloadable.
        Success = "SUCCESS",
        /// Failed (see the error message).
        Error = "ERROR",
    }
}

text_enum! {
    /// Where an access-data import is.
    pub enum ImportState as "ImportState" {
        /// Waiting for a worker.
        Queued = "QUEUED",
        /// Being loaded.
        InProgress = "IN_PROGRESS",
        /// Loaded.
        Success = "SUCCESS",
        /// Refused (see its errors); the database is as it was.
        Error = "ERROR",
    }
}

text_enum! {
    /// Where a queued job is.
    pub enum JobState as "JobState" {
        /// Waiting for a worker (possibly until its retry time).
        Queued = "QUEUED",
        /// Held by a worker under a lease.
        Running = "RUNNING",
        /// Finished without error.
        Succeeded = "SUCCEEDED",
        /// Failed for good.
        Failed = "FAILED",
        /// Withdrawn before it finished.
        Cancelled = "CANCELLED",
    }
}

text_enum! {
    /// Where a role came from.
    pub enum RoleOrigin as "RoleOrigin" {
        /// Loaded with the access data.
        Imported = "IMPORTED",
        /// Created by provisioning a potential role.
        Provisioned = "PROVISIONED",
    }
}

text_enum! {
    /// Where a role assignment request recorded at provisioning is.
    pub enum AssignmentState as "AssignmentState" {
        /// Recorded; waiting for whatever grants roles.
        Requested = "REQUESTED",
    }
}

text_enum! {
    /// How a notification was delivered.
    pub enum DeliveryChannel as "DeliveryChannel" {
        /// Sent by SMTP.
        Smtp = "smtp",
        /// Written to the log (no SMTP configured).
        Log = "log",
    }
}

text_enum! {
    /// Whether a potential role's members are known (the contract's
    /// `RoleMiningIdentityGroupStatus`); members are stored with every role.
    pub enum IdentityGroupStatus as "RoleMiningIdentityGroupStatus" {
        /// The members are stored.
        Obtained = "OBTAINED",
    }
}

text_enum! {
    /// Whether usage data exists for an entitlement's source (the contract's
    /// `activitySourceState`).
    pub enum ActivitySourceState as "ActivitySourceState" {
        /// Usage data was imported for the source.
        Complete = "complete",
        /// No usage data for the source.
        NotComplete = "notComplete",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_text_and_json() {
        for state in SessionState::ALL {
            assert_eq!(state.as_str().parse::<SessionState>(), Ok(*state));
            let json = serde_json::to_string(state).unwrap_or_default();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(
                serde_json::from_str::<SessionState>(&json).ok(),
                Some(*state)
            );
        }
        for kind in ProvisionState::ALL {
            assert_eq!(kind.as_str().parse::<ProvisionState>(), Ok(*kind));
        }
    }

    #[test]
    fn unknown_text_names_what_was_expected() {
        let err = "RARE".parse::<RoleType>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("\"RARE\" is not a RoleMiningRoleType; expected one of SPECIALIZED, COMMON")
        );
        assert!(serde_json::from_str::<RoleType>("\"common\"").is_err());
    }
}
