//! Authorized operations (KIP-430): the bit field that Metadata, DescribeCluster and
//! DescribeGroups return when a client asks which operations it may perform on a resource.
//!
//! Bit `n` is set when the operation whose Kafka `AclOperation` code is `n` is allowed. Which
//! operations exist for a resource type follows Kafka's `AclEntry.supportedOperations`. FlyQ
//! has no ACLs yet, so a client may perform every operation that applies; once ACLs exist, the
//! principal's grants are decided here and nowhere else.

/// Kafka's `AclOperation` codes, for the operations that apply to topics, groups or the cluster.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

/// The kinds of resource whose authorized operations a response carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource {
    Topic,
    Group,
    Cluster,
}

impl Resource {
    /// The operations an ACL can grant on this kind of resource.
    fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Resource::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            Resource::Group => &[Read, Delete, Describe, DescribeConfigs, AlterConfigs],
            Resource::Cluster => &[
                Create,
                Alter,
                Describe,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
            ],
        }
    }
}

/// The bit field of operations a client may perform on a resource of this kind.
pub(crate) fn authorized_operations(resource: Resource) -> i32 {
    resource
        .operations()
        .iter()
        .fold(0, |bits, operation| bits | 1 << *operation as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_applicable_operation_is_allowed_as_kafka_encodes_it() {
        // Bits 3-8 and 10-11 (read to describe, describe and alter configs).
        assert_eq!(authorized_operations(Resource::Topic), 0b1101_1111_1000);
        // Bits 3, 6, 8, 10, 11.
        assert_eq!(authorized_operations(Resource::Group), 0b1101_0100_1000);
        // Bits 5 and 7-12.
        assert_eq!(authorized_operations(Resource::Cluster), 0b1_1111_1010_0000);
    }
}
