"""Search attributes that make every action findable in the Temporal UI."""

from temporalio.common import SearchAttributeKey

ORG_ID = SearchAttributeKey.for_keyword("LoyaltyOrgId")
USER_ID = SearchAttributeKey.for_keyword("LoyaltyUserId")
ACTION = SearchAttributeKey.for_keyword("LoyaltyAction")
CAMPAIGN_IDS = SearchAttributeKey.for_keyword_list("LoyaltyCampaignIds")
OUTCOME = SearchAttributeKey.for_keyword("LoyaltyOutcome")

ALL = (ORG_ID, USER_ID, ACTION, CAMPAIGN_IDS, OUTCOME)
