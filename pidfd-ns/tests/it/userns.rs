//! User namespaces: the owner, the owning user namespace of other namespaces, the parent.

use pidfd::PidFd;
use pidfd_ns::{Error, Namespace, PidFdNsExt};

use crate::support::{Held, Setup, can_open_pidfds, thread_ino};

#[test]
fn a_childs_user_namespace_owns_the_namespaces_created_with_it() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWUTS, Setup::default());
    let user = held.fd.namespace(Namespace::User).unwrap();
    assert_eq!(user.namespace_type().unwrap(), Namespace::User);
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(user.owner_uid().unwrap(), euid, "the creator owns it");
    for ns in [Namespace::Net, Namespace::Uts] {
        let owner = held.fd.namespace(ns).unwrap().owning_user_namespace().unwrap();
        assert_eq!(owner.namespace(), Namespace::User);
        assert!(owner.is_same_namespace(&user).unwrap(), "{ns} is owned by the new user namespace");
    }
    // Namespaces the child did not unshare are still owned by ours.
    let ipc_owner = held.fd.namespace(Namespace::Ipc).unwrap().owning_user_namespace().unwrap();
    assert_eq!(ipc_owner.id().unwrap(), thread_ino(Namespace::User));
    let parent = user.parent().unwrap();
    assert_eq!(parent.id().unwrap(), thread_ino(Namespace::User));
    assert!(matches!(
        held.fd.namespace(Namespace::Net).unwrap().owner_uid(),
        Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))
    ));
}

#[test]
fn an_unprivileged_users_namespace_has_that_owner() {
    if !can_open_pidfds() {
        return;
    }
    let setup = Setup { uid: Some(65534), ..Setup::default() };
    let held = match Held::new(libc::CLONE_NEWUSER, setup, "echo ready; read x") {
        Ok(h) => h,
        Err(e) => {
            eprintln!("skipped: unprivileged user namespaces are not allowed here: {e}");
            return;
        }
    };
    let user = held.fd.namespace(Namespace::User).unwrap();
    assert_eq!(user.owner_uid().unwrap(), 65534);
    let me = PidFd::from_self().unwrap();
    let mine = me.namespace(Namespace::User).unwrap();
    assert!(!user.is_same_namespace(&mine).unwrap());
    assert!(user.parent().unwrap().is_same_namespace(&mine).unwrap());
}
