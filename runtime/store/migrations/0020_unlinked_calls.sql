-- 0020: the calls no contact has, by their client's number. A contact made (or given a
-- number) later adopts the calls of its numbers that no contact had, with their activity
-- (editing.adopt_calls): the console offers "Create contact" on such a call's card. Without
-- an index that look-up reads every call of the tenant; partial, it holds only the calls
-- waiting for a contact, and a webhook's call that has one costs it nothing.
CREATE INDEX calls_unlinked_client ON calls(tenant_id, client_phone_normalized)
    WHERE contact_id IS NULL AND client_phone_normalized IS NOT NULL;
