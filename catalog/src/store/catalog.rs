//! Nodes, services and checks: registration and deregistration.
//!
//! Index bookkeeping follows Consul's state store: a changed node raises the nodes table and
//! the index of every service on it; a changed service raises the services table and its own
//! service index; a changed check raises the checks table and the index of its service (or of
//! every service on its node, for a node-level check, because health listings include node
//! checks). Writes that change nothing raise nothing.

use super::{fold, CheckKey, ServiceKey, Store};
use crate::command::{ApplyError, CommandResult, Deregistration, Outcome, Registration};
use crate::types::{Check, Health, Index, Node, RaftIndexes, Service};
use crate::watch::Touched;

impl Store {
    pub(super) fn register(&mut self, index: Index, registration: &Registration) -> CommandResult {
        let node_key = fold(registration.node.name.as_str());
        if node_key.is_empty() {
            return Err(ApplyError::MissingNodeName);
        }
        if let Some(service) = &registration.service {
            if service.name.as_str().is_empty() {
                return Err(ApplyError::MissingServiceName);
            }
        }
        // Every check must name a service that exists once this registration is in.
        let new_service_key = registration
            .service
            .as_ref()
            .map(|service| (node_key.clone(), fold(service_id_or_name(service))));
        for check in &registration.checks {
            if check.service_id.as_str().is_empty() {
                continue;
            }
            let key = (node_key.clone(), fold(check.service_id.as_str()));
            if Some(&key) != new_service_key.as_ref() && !self.services.contains_key(&key) {
                return Err(ApplyError::MissingService);
            }
        }

        // Validated: from here on nothing fails, so nothing is half-applied.
        let node_exists = self.nodes.contains_key(&node_key);
        if !registration.skip_node_update || !node_exists {
            self.ensure_node(index, &node_key, &registration.node);
        }
        let node_name = self.nodes[&node_key].name.clone();
        if let Some(service) = &registration.service {
            let mut service = service.clone();
            service.node = node_name.clone();
            if service.id.as_str().is_empty() {
                service.id = service.name.as_str().into();
            }
            self.ensure_service(index, &node_key, service);
        }
        for check in &registration.checks {
            let mut check = check.clone();
            check.node = node_name.clone();
            self.ensure_check(index, &node_key, check);
        }
        Ok(Outcome::Done)
    }

    pub(super) fn deregister(
        &mut self,
        index: Index,
        deregistration: &Deregistration,
    ) -> CommandResult {
        match deregistration {
            Deregistration::Node(node) => self.delete_node(index, &fold(node.as_str())),
            Deregistration::Service(node, id) => {
                self.delete_service(index, &(fold(node.as_str()), fold(id.as_str())))
            }
            Deregistration::Check(node, id) => {
                self.delete_check(index, &(fold(node.as_str()), fold(id.as_str())))
            }
        }
        Ok(Outcome::Done)
    }

    fn ensure_node(&mut self, index: Index, node_key: &str, node: &Node) {
        let existing = self.nodes.get(node_key);
        if existing.is_some_and(|existing| existing.same_content(node)) {
            return;
        }
        let create_index = existing.map_or(index, |existing| existing.indexes.create_index);
        let mut node = node.clone();
        node.indexes = RaftIndexes {
            create_index,
            modify_index: index,
        };
        self.nodes.insert(node_key.to_owned(), node);
        self.tables.nodes = index;
        self.touched.push(Touched::Node(node_key.to_owned()));
        for key in self.service_keys_of_node(node_key) {
            let name = fold(self.services[&key].name.as_str());
            self.raise_service_index(index, &name);
        }
    }

    fn ensure_service(&mut self, index: Index, node_key: &str, mut service: Service) {
        let key = (node_key.to_owned(), fold(service.id.as_str()));
        let existing = self.services.get(&key);
        if existing.is_some_and(|existing| existing.same_content(&service)) {
            return;
        }
        service.indexes = RaftIndexes {
            create_index: existing.map_or(index, |existing| existing.indexes.create_index),
            modify_index: index,
        };
        let new_name = fold(service.name.as_str());
        if let Some(old) = existing {
            let old_name = fold(old.name.as_str());
            if old_name != new_name {
                self.unlink_service_name(index, &old_name, &key);
            }
        }
        self.services_by_name
            .entry(new_name.clone())
            .or_default()
            .insert(key.clone());
        // Checks carry their service's name and tags, so keep them in step.
        for check_key in self.check_keys_of_service(&key) {
            let check = self
                .checks
                .get_mut(&check_key)
                .expect("listed check exists");
            if check.service_name != service.name || check.service_tags != service.tags {
                check.service_name = service.name.clone();
                check.service_tags = service.tags.clone();
                check.indexes.modify_index = index;
                self.tables.checks = index;
                self.touched.push(Touched::Checks);
            }
        }
        self.services.insert(key, service);
        self.tables.services = index;
        self.touched.push(Touched::Services);
        self.touched.push(Touched::NodeItems(node_key.to_owned()));
        self.raise_service_index(index, &new_name);
    }

    fn ensure_check(&mut self, index: Index, node_key: &str, mut check: Check) {
        if !check.service_id.as_str().is_empty() {
            let service_key = (node_key.to_owned(), fold(check.service_id.as_str()));
            let service = &self.services[&service_key];
            check.service_id = service.id.clone();
            check.service_name = service.name.clone();
            check.service_tags = service.tags.clone();
        } else {
            check.service_name = Default::default();
            check.service_tags = Vec::new();
        }
        let key = (node_key.to_owned(), fold(check.id.as_str()));
        let existing = self.checks.get(&key);
        if existing.is_some_and(|existing| existing.same_content(&check)) {
            return;
        }
        check.indexes = RaftIndexes {
            create_index: existing.map_or(index, |existing| existing.indexes.create_index),
            modify_index: index,
        };
        // A check that moves from one service to another affects both.
        let previous_service = existing.map(|existing| existing.service_id.clone());
        self.raise_check_owner(index, node_key, check.service_id.as_str());
        if let Some(previous) = previous_service {
            if fold(previous.as_str()) != fold(check.service_id.as_str()) {
                self.raise_check_owner(index, node_key, previous.as_str());
            }
        }
        let critical = check.status == Health::Critical;
        self.checks.insert(key.clone(), check);
        self.tables.checks = index;
        self.touched.push(Touched::Checks);
        self.touched.push(Touched::NodeItems(node_key.to_owned()));
        if critical {
            self.invalidate_check_sessions(index, &key.0, &key.1);
        }
    }

    pub(super) fn delete_node(&mut self, index: Index, node_key: &str) {
        if !self.nodes.contains_key(node_key) {
            return;
        }
        self.invalidate_node_sessions(index, &node_key.to_owned());
        for key in self.check_keys_of_node(node_key) {
            self.delete_check(index, &key);
        }
        for key in self.service_keys_of_node(node_key) {
            self.delete_service(index, &key);
        }
        self.nodes.remove(node_key);
        self.drop_coordinates(index, &node_key.to_owned());
        self.tables.nodes = index;
        self.touched.push(Touched::Node(node_key.to_owned()));
    }

    pub(super) fn delete_service(&mut self, index: Index, key: &ServiceKey) {
        if !self.services.contains_key(key) {
            return;
        }
        for check_key in self.check_keys_of_service(key) {
            self.delete_check(index, &check_key);
        }
        let service = self.services.remove(key).expect("checked above");
        self.unlink_service_name(index, &fold(service.name.as_str()), key);
        self.tables.services = index;
        self.touched.push(Touched::Services);
        self.touched.push(Touched::NodeItems(key.0.clone()));
    }

    pub(super) fn delete_check(&mut self, index: Index, key: &CheckKey) {
        let Some(check) = self.checks.remove(key) else {
            return;
        };
        self.invalidate_check_sessions(index, &key.0, &key.1);
        self.raise_check_owner(index, &key.0, check.service_id.as_str());
        self.tables.checks = index;
        self.touched.push(Touched::Checks);
        self.touched.push(Touched::NodeItems(key.0.clone()));
    }

    /// Removes one instance from its name's instance set; the name's index goes with its last
    /// instance (queries then use the services table index, raised by this same removal).
    fn unlink_service_name(&mut self, index: Index, name: &str, key: &ServiceKey) {
        let now_empty = match self.services_by_name.get_mut(name) {
            Some(keys) => {
                keys.remove(key);
                keys.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.services_by_name.remove(name);
            self.service_indexes.remove(name);
            self.tables.services = index;
            self.touched.push(Touched::Service(name.to_owned()));
        } else {
            self.raise_service_index(index, name);
        }
    }

    /// Raises the index of the service a check belongs to, or of every service on the node
    /// for a node-level check.
    fn raise_check_owner(&mut self, index: Index, node_key: &str, service_id: &str) {
        if service_id.is_empty() {
            for key in self.service_keys_of_node(node_key) {
                let name = fold(self.services[&key].name.as_str());
                self.raise_service_index(index, &name);
            }
        } else if let Some(service) = self.services.get(&(node_key.to_owned(), fold(service_id))) {
            let name = fold(service.name.as_str());
            self.raise_service_index(index, &name);
        }
    }

    fn raise_service_index(&mut self, index: Index, name: &str) {
        self.service_indexes.insert(name.to_owned(), index);
        self.touched.push(Touched::Service(name.to_owned()));
    }

    pub(crate) fn service_keys_of_node(&self, node_key: &str) -> Vec<ServiceKey> {
        self.services
            .range((node_key.to_owned(), String::new())..)
            .take_while(|((node, _), _)| node == node_key)
            .map(|(key, _)| key.clone())
            .collect()
    }

    pub(crate) fn check_keys_of_node(&self, node_key: &str) -> Vec<CheckKey> {
        self.checks
            .range((node_key.to_owned(), String::new())..)
            .take_while(|((node, _), _)| node == node_key)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Checks of one service instance, in check-id order.
    pub(crate) fn check_keys_of_service(&self, key: &ServiceKey) -> Vec<CheckKey> {
        self.checks
            .range((key.0.clone(), String::new())..)
            .take_while(|((node, _), _)| *node == key.0)
            .filter(|(_, check)| fold(check.service_id.as_str()) == key.1)
            .map(|(check_key, _)| check_key.clone())
            .collect()
    }
}

fn service_id_or_name(service: &Service) -> &str {
    if service.id.as_str().is_empty() {
        service.name.as_str()
    } else {
        service.id.as_str()
    }
}
