//! The field being checked, with its path: every rule reports an error at
//! the field it looks at, and the document's errors are gathered in one list.

use std::cell::RefCell;
use std::rc::Rc;

use super::FieldError;

/// A field of the document being checked (`spec.containers[1].image`) and
/// the errors found in the whole document so far.
#[derive(Debug, Clone)]
pub(super) struct Field {
    path: String,
    errors: Rc<RefCell<Vec<FieldError>>>,
}

impl Field {
    /// The document's field at `path` (`spec`, `spec.template.spec`), with no errors yet.
    pub fn root(path: &str) -> Self {
        Self {
            path: path.to_string(),
            errors: Rc::default(),
        }
    }

    /// The field `name` (or dotted `a.b`) of this one.
    pub fn at(&self, name: &str) -> Self {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        Self {
            path,
            errors: Rc::clone(&self.errors),
        }
    }

    /// The field at `path` from the document's top (`metadata`), whose
    /// errors go with this one's.
    pub fn document(&self, path: &str) -> Self {
        Self {
            path: path.to_string(),
            errors: Rc::clone(&self.errors),
        }
    }

    /// Item `index` of this list.
    pub fn item(&self, index: usize) -> Self {
        Self {
            path: format!("{}[{index}]", self.path),
            errors: Rc::clone(&self.errors),
        }
    }

    /// This field's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Record what is wrong with this field.
    pub fn error(&self, message: impl Into<String>) {
        self.errors.borrow_mut().push(FieldError {
            path: self.path.clone(),
            message: message.into(),
        });
    }

    /// Whether the document has errors so far.
    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// Drop the errors `drop` picks (fields already reported another way).
    pub fn forget(&self, drop: impl Fn(&FieldError) -> bool) {
        self.errors.borrow_mut().retain(|e| !drop(e));
    }

    /// The document's errors.
    pub fn errors(&self) -> Vec<FieldError> {
        self.errors.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_and_errors_are_shared() {
        let spec = Field::root("spec");
        let image = spec.at("containers").item(1).at("image");
        assert_eq!(image.path(), "spec.containers[1].image");
        image.error("required");
        spec.at("volumes")
            .item(0)
            .at("hostPath.path")
            .error("relative");
        assert!(spec.has_errors());
        spec.forget(|e| e.path.starts_with("spec.volumes"));
        assert_eq!(
            spec.errors(),
            [FieldError {
                path: "spec.containers[1].image".into(),
                message: "required".into()
            }]
        );
        let name = spec.document("metadata").at("name");
        assert_eq!(name.path(), "metadata.name");
        name.error("required");
        assert_eq!(spec.errors().len(), 2);
    }
}
