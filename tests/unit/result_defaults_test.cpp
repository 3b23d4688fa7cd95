// Result structs default to a status that is not a success, so a result a
// caller forgot to fill in never reads as "done".
#include "catch.hpp"
#include "flashsale/flashsale.hpp"

using namespace flashsale;

TEST_CASE("a default-constructed result never reads as a success", "[unit][results]") {
  CHECK(RegisterResult{}.status == RegisterStatus::TotalBelowIssued);
  CHECK(IssueResult{}.status == IssueStatus::UnknownCoupon);
  CHECK(RevokeResult{}.status == RevokeStatus::UnknownCoupon);
  CHECK(ShardedRegisterResult{}.status == ShardedRegisterStatus::TotalChanged);
  CHECK(ShardedIssueResult{}.status == IssueStatus::UnknownCoupon);
  CHECK(ShardedRevokeResult{}.result.status == RevokeStatus::UnknownCoupon);
  CHECK(TransferOutcome{}.status == TransferStatus::Empty);
  CHECK(LoadResult{}.status == LoadStatus::AlreadyLoaded);
  CHECK(ReserveResult{}.status == ReserveStatus::UnknownSku);
  CHECK(ConfirmResult{}.status == ConfirmStatus::UnknownHold);
  CHECK(ReleaseResult{}.status == ReleaseStatus::UnknownHold);
  CHECK(ExtendResult{}.status == ExtendStatus::UnknownHold);
  CHECK(RecordResult{}.status == RecordStatus::OutsideWindow);
  CHECK(RefreshResult{}.status == RefreshStatus::Unchanged);
  CHECK(ReclaimResult{}.reclaimed == 0);
  CHECK(ScheduleResult{}.status == ScheduleStatus::Conflict);
  CHECK(RescheduleResult{}.status == RescheduleStatus::UnknownEvent);
  CHECK(CancelResult{}.status == CancelStatus::UnknownEvent);
  CHECK(EventInfo{}.state == EventState::Unknown);
  CHECK_FALSE(PublishedEntry{}.added);
}
