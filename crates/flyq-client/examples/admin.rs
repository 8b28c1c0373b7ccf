//! Creates topic `admin-demo`, grows it, changes a config, lists offsets and groups, and
//! deletes it again.
//!
//! Run against a local broker: `flyq serve` then
//! `cargo run -p flyq-client --example admin` (FLYQ_BOOTSTRAP overrides 127.0.0.1:9092).

use flyq_client::{
    Admin, AlterConfigOp, ClientConfig, ConfigResource, NewTopic, OffsetSpec, TopicPartition,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::var("FLYQ_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let admin = Admin::new(ClientConfig::new(&bootstrap))?;
    let cluster = admin.describe_cluster().await?;
    println!(
        "cluster {} with brokers {:?}",
        cluster.cluster_id, cluster.brokers
    );

    admin
        .create_topics(&[NewTopic::new("admin-demo", 2).config("retention.ms", "86400000")])
        .await?;
    admin.create_partitions("admin-demo", 4).await?;
    for topic in admin.describe_topics(&["admin-demo"]).await? {
        println!("{}: {} partitions", topic.name, topic.partitions.len());
    }

    let resource = ConfigResource::Topic("admin-demo".into());
    admin
        .alter_configs(
            &resource,
            &[AlterConfigOp::Set("retention.ms".into(), "3600000".into())],
        )
        .await?;
    let configs = admin.describe_configs(&resource).await?;
    println!(
        "retention.ms = {:?}",
        configs.get("retention.ms").and_then(|c| c.value.clone())
    );

    let ends = admin
        .list_offsets(&[(TopicPartition::new("admin-demo", 0), OffsetSpec::Latest)])
        .await?;
    println!("log end offsets: {ends:?}");
    for group in admin.list_groups().await? {
        let offsets = admin.list_group_offsets(&group.group_id).await?;
        println!("group {} ({}): {offsets:?}", group.group_id, group.state);
    }

    admin.delete_topics(&["admin-demo"]).await?;
    println!("deleted admin-demo");
    Ok(())
}
