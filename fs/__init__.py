"""The semantic file system (LSFS). Not served yet: FileService.GetStatus reports it unavailable."""

__all__: list[str] = []
