//! Microsoft.Compute: virtual machines, and scale-set instances (what
//! AKS nodes are).

use futures::StreamExt as _;
use futures::future::BoxFuture;
use serde_json::Value;

use super::{arm_columns, at, id_of, id_segment, ids, list_all, listed, tags, text};
use crate::azure::table::{CallError, DETAIL_CONCURRENCY, Fetched, Request, Spec, Target};
use crate::cloud::{Col, col};
use crate::kubernetes::tables::model::{Cell, ColType::*};

const COMPUTE_API: &str = "2024-07-01";

pub(crate) fn virtual_machines() -> Spec<Value> {
    let mut columns: Vec<Col<Value>> = arm_columns!("VM");
    columns.extend([
        col("vm_id", Utf8, "The VM's unique id", |v| {
            text(v, &["properties", "vmId"])
        }),
        col("vm_size", Utf8, "Size (Standard_D4s_v5, …)", |v| {
            text(v, &["properties", "hardwareProfile", "vmSize"])
        }),
        col("os_type", Utf8, "Linux or Windows", |v| {
            text(v, &["properties", "storageProfile", "osDisk", "osType"])
        }),
        col("computer_name", Utf8, "Host name inside the VM", |v| {
            text(v, &["properties", "osProfile", "computerName"])
        }),
        col("zones", List, "Availability zones", |v| {
            super::strings(v, &["zones"])
        }),
        col(
            "network_interfaces",
            List,
            "Ids of its network interfaces",
            |v| ids(v, &["properties", "networkProfile", "networkInterfaces"]),
        ),
        col(
            "password_authentication",
            Boolean,
            "Whether a Linux VM accepts passwords over SSH",
            |v| {
                Cell::bool(
                    super::at(
                        v,
                        &[
                            "properties",
                            "osProfile",
                            "linuxConfiguration",
                            "disablePasswordAuthentication",
                        ],
                    )
                    .and_then(Value::as_bool)
                    .map(|disabled| !disabled),
                )
            },
        ),
        col(
            "identity_type",
            Utf8,
            "SystemAssigned, UserAssigned, both or NULL",
            |v| text(v, &["identity", "type"]),
        ),
        col("provisioning_state", Utf8, "Succeeded, Failed, …", |v| {
            text(v, &["properties", "provisioningState"])
        }),
        col("tags", Map, "Tags", tags),
    ]);
    Spec {
        name: "virtual_machines",
        description: "Virtual machines, one row per VM (scale-set instances are in vmss_instances)",
        columns,
        narrowing: &[],
        fetch: listed!(
            "virtualMachines.listAll",
            "Microsoft.Compute/virtualMachines",
            "2024-07-01"
        ),
    }
}

/// Every instance of every scale set: one list of scale sets, then one
/// list of instances per scale set.
fn fetch_instances<'a>(
    target: &'a Target<'a>,
    _request: &'a Request,
) -> BoxFuture<'a, Result<Fetched<Value>, CallError>> {
    Box::pin(async move {
        let sets = list_all(
            target,
            "virtualMachineScaleSets.listAll",
            "Microsoft.Compute/virtualMachineScaleSets",
            COMPUTE_API,
        )
        .await?;
        let results = futures::stream::iter(sets)
            .map(|set| async move {
                let path = format!("{}/virtualMachines", id_of(&set).trim_start_matches('/'));
                let instances = target
                    .clients
                    .arm
                    .list("virtualMachineScaleSetVMs.list", &path, COMPUTE_API)
                    .await?;
                Ok::<_, CallError>(with_model_network(&set, instances))
            })
            .buffered(DETAIL_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut fetched = Fetched::from(Vec::new());
        for result in results {
            match result {
                Ok(instances) => fetched.items.extend(instances),
                // Deleted between the two lists.
                Err(e) if e.is_not_found() => {}
                // One scale set unreadable: the others' instances still are.
                Err(e) => fetched.warnings.push(e),
            }
        }
        Ok(fetched)
    })
}

/// Instances of a uniform scale set carry their copy of the model's NICs
/// (`networkProfileConfiguration`); a flexible one's do not, and then the
/// scale set's model says which NSG and subnet they are on.
fn with_model_network(set: &Value, mut instances: Vec<Value>) -> Vec<Value> {
    let model = at(
        set,
        &["properties", "virtualMachineProfile", "networkProfile"],
    );
    for instance in &mut instances {
        if let (Some(model), Some(properties)) = (
            model,
            instance
                .get_mut("properties")
                .and_then(Value::as_object_mut),
        ) {
            properties
                .entry("networkProfileConfiguration")
                .or_insert_with(|| model.clone());
        }
    }
    instances
}

/// Where an instance keeps its NIC configurations.
const INSTANCE_NICS: &[&str] = &["properties", "networkProfileConfiguration"];
/// Where a scale set's model keeps them.
const MODEL_NICS: &[&str] = &["properties", "virtualMachineProfile", "networkProfile"];

/// The primary NIC configuration (or the only one) under `profile`.
fn primary_nic<'a>(v: &'a Value, profile: &[&str]) -> Option<&'a Value> {
    let nics = at(at(v, profile)?, &["networkInterfaceConfigurations"])?.as_array()?;
    nics.iter()
        .find(|n| at(n, &["properties", "primary"]) == Some(&Value::Bool(true)))
        .or_else(|| nics.first())
}

/// The network security group on the primary NIC.
fn primary_nsg<'a>(v: &'a Value, profile: &[&str]) -> Option<&'a str> {
    at(
        primary_nic(v, profile)?,
        &["properties", "networkSecurityGroup", "id"],
    )?
    .as_str()
}

/// The subnet of the primary NIC's primary IP configuration.
fn primary_subnet<'a>(v: &'a Value, profile: &[&str]) -> Option<&'a str> {
    let configs = at(
        primary_nic(v, profile)?,
        &["properties", "ipConfigurations"],
    )?
    .as_array()?;
    let config = configs
        .iter()
        .find(|c| at(c, &["properties", "primary"]) == Some(&Value::Bool(true)))
        .or_else(|| configs.first())?;
    at(config, &["properties", "subnet", "id"])?.as_str()
}

/// `azure:///subscriptions/S/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/SET/virtualMachines/N`,
/// as the Azure cloud provider writes a node's spec.providerID: the
/// resource group in lower case.
fn provider_id(v: &Value) -> Option<String> {
    let instance = id_segment(id_of(v), "virtualMachines")?;
    Some(format!("{}{instance}", provider_id_prefix(v)?))
}

/// What the providerID of each instance of a scale set starts with: the
/// scale set's `provider_id` form up to `/virtualMachines/`.
fn provider_id_prefix(v: &Value) -> Option<String> {
    let id = id_of(v);
    let subscription = id_segment(id, "subscriptions")?;
    let group = id_segment(id, "resourceGroups")?.to_ascii_lowercase();
    let set = id_segment(id, "virtualMachineScaleSets")?;
    Some(format!(
        "azure:///subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{set}/virtualMachines/"
    ))
}

pub(crate) fn scale_sets() -> Spec<Value> {
    let mut columns: Vec<Col<Value>> = arm_columns!("Scale set");
    columns.extend([
        col("vm_size", Utf8, "Size of its instances", |v| text(v, &["sku", "name"])),
        col("capacity", Int64, "Instances it is asked to run", |v| {
            super::int(v, &["sku", "capacity"])
        }),
        col("orchestration_mode", Utf8, "Uniform or Flexible", |v| {
            text(v, &["properties", "orchestrationMode"])
        }),
        col(
            "aks_pool",
            Utf8,
            "The AKS agent pool it runs (NULL: not AKS's)",
            |v| text(v, &["tags", "aks-managed-poolName"]),
        ),
        col(
            "nsg_id",
            Utf8,
            "Network security group on the model's primary NIC",
            |v| Cell::str(primary_nsg(v, MODEL_NICS)),
        ),
        col("subnet_id", Utf8, "Subnet of the model's primary NIC", |v| {
            Cell::str(primary_subnet(v, MODEL_NICS))
        }),
        col(
            "provider_id_prefix",
            Utf8,
            "What its instances' providerIDs start with (starts_with(lower(nodes.provider_id), lower(provider_id_prefix)))",
            |v| Cell::string(provider_id_prefix(v)),
        ),
        col("provisioning_state", Utf8, "Succeeded, Failed, …", |v| {
            text(v, &["properties", "provisioningState"])
        }),
        col("tags", Map, "Tags", tags),
    ]);
    Spec {
        name: "scale_sets",
        description: "Virtual machine scale sets, one row per scale set, with their model's network (AKS node pools are scale sets)",
        columns,
        narrowing: &[],
        fetch: listed!(
            "virtualMachineScaleSets.listAll",
            "Microsoft.Compute/virtualMachineScaleSets",
            "2024-07-01"
        ),
    }
}

pub(crate) fn scale_set_instances() -> Spec<Value> {
    let mut columns: Vec<Col<Value>> = arm_columns!("Instance");
    columns.extend([
        col("scale_set", Utf8, "Scale set the instance belongs to", |v| {
            Cell::str(id_segment(id_of(v), "virtualMachineScaleSets"))
        }),
        col("instance_id", Utf8, "Instance id within the scale set", |v| text(v, &["instanceId"])),
        col("computer_name", Utf8, "Host name (an AKS node's name)", |v| {
            text(v, &["properties", "osProfile", "computerName"])
        }),
        col("vm_id", Utf8, "The VM's unique id", |v| text(v, &["properties", "vmId"])),
        col(
            "provider_id",
            Utf8,
            "azure:///… as an AKS node's spec.providerID names this instance (resource group in lower case)",
            |v| Cell::string(provider_id(v)),
        ),
        col("vm_size", Utf8, "Size", |v| text(v, &["sku", "name"])),
        col(
            "nsg_id",
            Utf8,
            "Network security group on its primary NIC (NULL: none; the subnet's may still apply)",
            |v| Cell::str(primary_nsg(v, INSTANCE_NICS)),
        ),
        col("subnet_id", Utf8, "Subnet of its primary NIC", |v| {
            Cell::str(primary_subnet(v, INSTANCE_NICS))
        }),
        col("latest_model_applied", Boolean, "Whether it runs the scale set's current model", |v| {
            super::flag(v, &["properties", "latestModelApplied"])
        }),
        col("provisioning_state", Utf8, "Succeeded, Failed, …", |v| {
            text(v, &["properties", "provisioningState"])
        }),
        col("tags", Map, "Tags", tags),
    ]);
    Spec {
        name: "vmss_instances",
        description: "Virtual machine scale set instances (AKS nodes among them), one row per instance",
        columns,
        narrowing: &[],
        fetch: fetch_instances,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_without_their_own_nic_copy_take_the_scale_set_model() {
        let nic = |nsg: &str, subnet: &str| {
            serde_json::json!({"networkInterfaceConfigurations": [
                {"properties": {"primary": false, "ipConfigurations": [{"properties": {"subnet": {"id": "other"}}}]}},
                {"properties": {"primary": true, "networkSecurityGroup": {"id": nsg},
                    "ipConfigurations": [
                        {"properties": {"subnet": {"id": "secondary"}}},
                        {"properties": {"primary": true, "subnet": {"id": subnet}}}]}}]})
        };
        let set = serde_json::json!({"properties": {"virtualMachineProfile": {"networkProfile": nic("model-nsg", "model-subnet")}}});
        let own = serde_json::json!({"properties": {"networkProfileConfiguration": nic("own-nsg", "own-subnet")}});
        let bare = serde_json::json!({"properties": {}});
        let got = with_model_network(&set, vec![own, bare]);
        assert_eq!(primary_nsg(&got[0], INSTANCE_NICS), Some("own-nsg"));
        assert_eq!(primary_subnet(&got[0], INSTANCE_NICS), Some("own-subnet"));
        assert_eq!(primary_nsg(&got[1], INSTANCE_NICS), Some("model-nsg"));
        assert_eq!(primary_subnet(&got[1], INSTANCE_NICS), Some("model-subnet"));
        assert_eq!(primary_nsg(&set, MODEL_NICS), Some("model-nsg"));
    }

    #[test]
    fn provider_ids_lower_the_resource_group_as_aks_does() {
        let v = serde_json::json!({"id": "/subscriptions/s1/resourceGroups/MC_Rg_Aks_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-sys-1-vmss/virtualMachines/2"});
        assert_eq!(
            provider_id(&v).as_deref(),
            Some(
                "azure:///subscriptions/s1/resourceGroups/mc_rg_aks_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-sys-1-vmss/virtualMachines/2"
            )
        );
    }
}
